# blockwatch — top-level build.
#
#   make            build everything into build/
#   make check      build with ASan/UBSan into build/san/ and run every test
#   make tsan       the tap's ring under ThreadSanitizer (build/tsan/)
#   make demo       the main job: the appliance live, a guest's file events
#                   over MQTT (see README.md)
#   make bench      benchmarks, results in docs/benchmarks.md
#   make fuzz       long fuzzing runs of the parsers
#   make deps       install the Debian 12 packages the build and tests need
#   make install    install into DESTDIR/PREFIX (docs/packaging.md)
#   make image      the VM appliance image, build/image/blockwatch.qcow2

BUILD    ?= build
SAN      ?=
CC       ?= gcc
PKGS     := libnbd libiscsi libxxhash ext2fs com_err jansson libsodium

CFLAGS   ?= -O2 -g
CFLAGS   += -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE -fPIC \
            -fvisibility=hidden $(shell pkg-config --cflags $(PKGS)) \
            -Inbdkit-plugin -Iintrospector -Imqtt-bridge -Iappliance
# Debian ships no pkg-config file for Paho; the TLS variant of its
# asynchronous client, over OpenSSL (which the bridge also calls).
PAHO     := -lpaho-mqtt3as -lssl -lcrypto
# The plugin (inside nbdkit) has no business with MQTT.
PLUGIN_LDLIBS := $(shell pkg-config --libs $(PKGS)) -lpthread
LDLIBS   := $(PLUGIN_LDLIBS) $(PAHO)
ifeq ($(SAN),1)
CFLAGS   += -fsanitize=address,undefined -fno-sanitize-recover=all \
            -fno-omit-frame-pointer
LDFLAGS  += -fsanitize=address,undefined
endif

OBJ      := $(BUILD)/obj

TAP_SRCS    := $(wildcard nbdkit-plugin/tap/*.c)
# How the storage is reached (URIs, the iSCSI client): the plugin's
# backends and the introspector's readers share it.
STORAGE_SRCS := $(wildcard nbdkit-plugin/storage/*.c)
INTRO_SRCS  := $(wildcard introspector/*/*.c)
MQTT_SRCS   := $(wildcard mqtt-bridge/*.c)
PLUGIN_SRCS := $(wildcard nbdkit-plugin/*.c) $(TAP_SRCS) $(STORAGE_SRCS)
CLI_SRCS    := $(wildcard appliance/*.c)
DAEMON_SRCS := $(wildcard appliance/blockwatchd/*.c)
UNIT_SRCS   := $(wildcard tests/unit/test-*.c)
TOOL_SRCS   := $(wildcard tests/tools/*.c)
BENCH_SRCS  := $(wildcard bench/*.c)

PLUGIN   := $(BUILD)/nbdkit-blockwatch-plugin.so
# Everything downstream of the tap, for the CLI, the daemon and tests.
LIBBW    := $(BUILD)/libblockwatch.a
MANPAGE  := $(BUILD)/nbdkit-blockwatch-plugin.1
CLI      := $(BUILD)/blockwatch
DAEMON   := $(BUILD)/blockwatchd
# The daemon's configuration file (inih) and metrics endpoint
# (libmicrohttpd).
DAEMON_PKGS := inih libmicrohttpd
UNITS    := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))
TOOLS    := $(patsubst tests/tools/%.c,$(BUILD)/tests/%,$(TOOL_SRCS))
BENCH_TOOLS := $(patsubst bench/%.c,$(BUILD)/bench/%,$(BENCH_SRCS))
PRELOAD  := $(BUILD)/tests/asan-early-init.so

obj = $(patsubst %.c,$(OBJ)/%.o,$(1))

FUZZ_SRCS   := $(wildcard tests/fuzz/fuzz-*.c)
FUZZERS     := $(patsubst tests/fuzz/%.c,build/fuzz/%,$(FUZZ_SRCS))

.PHONY: all check test-progs demo bench fuzz fuzz-targets soak deps clean image image-check install
all: $(PLUGIN) $(CLI) $(DAEMON) $(MANPAGE)

$(MANPAGE): nbdkit-plugin/nbdkit-blockwatch-plugin.pod
	@mkdir -p $(dir $@)
	podchecker $< >/dev/null
	pod2man --section=1 --center=blockwatch --release=blockwatch $< > $@

$(OBJ)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

$(PLUGIN): $(call obj,$(PLUGIN_SRCS))
	$(CC) $(LDFLAGS) -shared -o $@ $^ $(PLUGIN_LDLIBS)

# Without pkg-config to ask, say which package is missing rather than
# leave the compiler's "file not found".
$(BUILD)/.paho-headers:
	@mkdir -p $(dir $@)
	@echo '#include <MQTTAsync.h>' | $(CC) -E -x c - >/dev/null 2>&1 || \
	  { echo "MQTTAsync.h not found: install libpaho-mqtt-dev (make deps)" >&2; exit 1; }
	@touch $@

$(call obj,$(MQTT_SRCS)): | $(BUILD)/.paho-headers

$(LIBBW): $(call obj,$(TAP_SRCS) $(STORAGE_SRCS) $(INTRO_SRCS) $(MQTT_SRCS))
	rm -f $@
	ar rcs $@ $^

# blockwatch status finds the daemon through its configuration file and
# asks its metrics endpoint (libcurl).
CONFIG_SRCS := appliance/blockwatchd/config.c appliance/blockwatchd/config-value.c
$(CLI): $(call obj,$(CLI_SRCS) $(CONFIG_SRCS)) $(LIBBW)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -linih -lcurl

# It checks data policies as blockwatch watch does (event-sink.c), and
# iSCSI names as blockwatch iscsi-target does (iscsi-values.c).
DAEMON_SHARED := appliance/event-sink.c appliance/event-print.c \
                 appliance/iscsi-values.c appliance/subprocess.c
$(call obj,$(DAEMON_SRCS)): CFLAGS += $(shell pkg-config --cflags $(DAEMON_PKGS))
$(DAEMON): $(call obj,$(DAEMON_SRCS) $(DAEMON_SHARED)) $(LIBBW)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(shell pkg-config --libs $(DAEMON_PKGS))

# Unit tests link the tap's producer side, libblockwatch and cmocka.
RING_SRCS   := nbdkit-plugin/tap-ring.c nbdkit-plugin/tap-sender.c \
               nbdkit-plugin/tap-defer.c
$(BUILD)/tests/%: tests/unit/%.c $(call obj,$(RING_SRCS)) $(LIBBW)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka -lmosquitto

$(BUILD)/tests/%: tests/tools/%.c $(LIBBW)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bench/%: bench/%.c $(LIBBW)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Not sanitized itself: it runs before the sanitizer is up (see the file).
$(PRELOAD): tests/preload/asan-early-init.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -Wall -Wextra -Werror -shared -fPIC -o $@ $< -ldl

test-progs: all $(UNITS) $(TOOLS) $(BENCH_TOOLS) $(PRELOAD)

# libFuzzer targets need clang; they always carry ASan and UBSan.  Each
# source is compiled once (build/fuzz/obj/) for all the targets.
FUZZ_OBJ    := build/fuzz/obj
fuzzobj      = $(patsubst %.c,$(FUZZ_OBJ)/%.o,$(1))
FUZZ_CFLAGS := -g -O1 -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE -Inbdkit-plugin -Iintrospector \
  -Imqtt-bridge -Iappliance $(shell pkg-config --cflags $(PKGS)) \
  -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION \
  -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all

$(FUZZ_OBJ)/%.o: %.c
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -MMD -MP -c -o $@ $<
# (Kept, though only pattern rules name some of them.)
.PRECIOUS: $(FUZZ_OBJ)/%.o

define fuzz-build
	@mkdir -p $(dir $@)
	clang -fsanitize=fuzzer,address,undefined -o $@ $^ $(LDLIBS)
endef

build/fuzz/%: $(FUZZ_OBJ)/tests/fuzz/%.o \
  $(call fuzzobj,$(TAP_SRCS) $(STORAGE_SRCS) $(INTRO_SRCS))
	$(fuzz-build)

# The ext4 targets, offline and online, share how an input becomes a
# crawl and tap records, and the fix-up of checksums; fuzz-jbd2 has the
# journal's.
build/fuzz/fuzz-ext4 build/fuzz/fuzz-ext4-live: $(FUZZ_OBJ)/tests/fuzz/ext4-feed.o \
  $(FUZZ_OBJ)/tests/fuzz/ext4-fixup.o $(FUZZ_OBJ)/tests/fuzz/jbd2-fixup.o
build/fuzz/fuzz-jbd2: $(FUZZ_OBJ)/tests/fuzz/jbd2-fixup.o

# Not a fuzz target: the check that the fix-up changes nothing on the
# seeds, which real tools wrote right (tests/parsers-fuzz.sh).  Its
# objects are the targets' (the coverage hooks are the sanitizers').
build/fuzz/fixup-agree: $(call fuzzobj,tests/fuzz/fixup-agree.c \
  tests/fuzz/ext4-feed.c tests/fuzz/ext4-fixup.c tests/fuzz/jbd2-fixup.c $(TAP_SRCS) \
  $(STORAGE_SRCS) $(INTRO_SRCS))
	@mkdir -p $(dir $@)
	clang -fsanitize=address,undefined -o $@ $^ $(LDLIBS)

# Topics: the MQTT sources that name things; libmosquitto is the
# independent judge of topic matching.
build/fuzz/fuzz-topic: $(call fuzzobj,tests/fuzz/fuzz-topic.c \
  $(wildcard introspector/events/*.c) mqtt-bridge/topic.c mqtt-bridge/glob.c \
  mqtt-bridge/channel.c)
	$(fuzz-build) -lmosquitto

# An event's JSON as `blockwatch sub` receives and prints it.
build/fuzz/fuzz-event-json: $(call fuzzobj,tests/fuzz/fuzz-event-json.c \
  $(wildcard introspector/events/*.c) mqtt-bridge/topic.c mqtt-bridge/glob.c \
  mqtt-bridge/channel.c appliance/event-print.c)
	$(fuzz-build)

# The metrics text blockwatch status reads.
build/fuzz/fuzz-status-metrics: $(call fuzzobj,tests/fuzz/fuzz-status-metrics.c \
  appliance/status-metrics.c)
	$(fuzz-build)

# blockwatchd's configuration file, and the commands made from it.
build/fuzz/fuzz-config: $(call fuzzobj,tests/fuzz/fuzz-config.c \
  $(CONFIG_SRCS) appliance/blockwatchd/command.c appliance/event-sink.c \
  appliance/event-print.c appliance/iscsi-values.c $(MQTT_SRCS) \
  $(TAP_SRCS) $(STORAGE_SRCS) \
  $(INTRO_SRCS))
	$(fuzz-build) -linih

fuzz-targets: $(FUZZERS) build/fuzz/fixup-agree

check:
	$(MAKE) BUILD=build/san SAN=1 test-progs
	tests/run build/san

# The tap's ring, sender and deferred payloads (test-tap-ring) under
# ThreadSanitizer; by hand, it needs a build of its own.  TSan does not
# model fences (-Wno-tsan), so the sender's sleep hand-shake, which
# rests on them, is not checked; nor is anything the consumer reads
# through its own mapping of the ring.
.PHONY: tsan
tsan:
	$(MAKE) BUILD=build/tsan CC="$(CC) -fsanitize=thread -Wno-tsan" \
	  build/tsan/tests/test-tap-ring
	build/tsan/tests/test-tap-ring

# Whether this machine can run the demo (root, FUSE, loop devices) is
# said before anything is installed or built.
demo:
	appliance/demo.sh --check
	$(MAKE) deps
	$(MAKE) all
	BUILD=$(abspath $(BUILD)) appliance/demo.sh

bench: all $(TOOLS) $(BENCH_TOOLS)
	bench/run

# The libFuzzer targets, then hostile metadata through the live path
# (tests/hostile-metadata-live.sh) on random seeds for as long.
SOAK_SECONDS = $(or $(FUZZ_SECONDS),300)
fuzz:
	tests/fuzz/run $(FUZZ_SECONDS)
	$(MAKE) BUILD=build/san SAN=1 test-progs
	BW_HOSTILE_SOAK=$(SOAK_SECONDS) BW_TEST_TIMEOUT=$$(($(SOAK_SECONDS) + 600)) \
	  tests/run build/san hostile-metadata-live


# Random workloads on the kernel's ext4 held to the fidelity oracle
# (tests/fidelity-random.sh) on random seeds for FID_SOAK_SECONDS
# (default 45 minutes); failed runs are kept in build/san/soak-failed.
FID_SOAK_SECONDS ?= 2700
soak:
	$(MAKE) BUILD=build/san SAN=1 test-progs
	BW_SOAK=$(FID_SOAK_SECONDS) BW_TEST_TIMEOUT=$$(($(FID_SOAK_SECONDS) + 900)) \
	  tests/run build/san fidelity-random

deps:
	.ci/deps

# Installation (docs/packaging.md).  The configuration lives in /etc
# whatever PREFIX is: blockwatchd, its unit and mosquitto look there.
# The plugin goes where nbdkit finds plugins by name, so blockwatchd's
# default (plugin "blockwatch") needs no path.
PREFIX      ?= /usr/local
BINDIR      ?= $(PREFIX)/bin
DATADIR     ?= $(PREFIX)/share
MANDIR      ?= $(DATADIR)/man
DOCDIR      ?= $(DATADIR)/doc/blockwatch
UNITDIR     ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
NBDKIT_PLUGINDIR ?= $(shell pkg-config --variable=plugindir nbdkit)
BW_CONFIG   := /etc/blockwatch/blockwatch.conf
# -p: files keep the times of what they were made from, so installing
# the same build again changes nothing (the Ansible role relies on it).
INSTALL     ?= install -p

install: all
	@test -n "$(NBDKIT_PLUGINDIR)" || { echo "nbdkit's plugin directory is unknown" \
	  "(pkg-config nbdkit, from nbdkit-plugin-dev): set NBDKIT_PLUGINDIR" >&2; exit 1; }
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(NBDKIT_PLUGINDIR) \
	  $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(DOCDIR) \
	  $(DESTDIR)$(DATADIR)/blockwatch $(DESTDIR)$(UNITDIR)/mosquitto.service.d \
	  $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)/etc/blockwatch \
	  $(DESTDIR)/etc/mosquitto/conf.d $(DESTDIR)/etc/mosquitto/blockwatch \
	  $(DESTDIR)/etc/logrotate.d
	$(INSTALL) -m 755 $(CLI) $(DAEMON) $(DESTDIR)$(BINDIR)
	$(INSTALL) -m 755 $(PLUGIN) $(DESTDIR)$(NBDKIT_PLUGINDIR)
	$(INSTALL) -m 644 $(MANPAGE) $(DESTDIR)$(MANDIR)/man1
	$(INSTALL) -m 644 README.md docs/*.md $(DESTDIR)$(DOCDIR)
	$(INSTALL) -m 644 image/runtime-packages $(DESTDIR)$(DATADIR)/blockwatch
	$(INSTALL) -m 644 appliance/blockwatch.conf.example $(DESTDIR)/etc/blockwatch
	$(INSTALL) -m 644 appliance/logrotate/blockwatch $(DESTDIR)/etc/logrotate.d
	$(INSTALL) -m 644 appliance/mosquitto/blockwatch.conf $(DESTDIR)/etc/mosquitto/conf.d
	$(INSTALL) -m 644 appliance/mosquitto/blockwatch.acl $(DESTDIR)/etc/mosquitto/blockwatch
	$(INSTALL) -m 644 appliance/systemd/blockwatch.sysusers \
	  $(DESTDIR)$(SYSUSERSDIR)/blockwatch.conf
	$(INSTALL) -m 644 appliance/systemd/mosquitto-blockwatch.conf \
	  $(DESTDIR)$(UNITDIR)/mosquitto.service.d/blockwatch.conf
	sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@DOCDIR@|$(DOCDIR)|g' \
	  -e 's|@CONFIG@|$(BW_CONFIG)|g' appliance/systemd/blockwatchd.service.in \
	  > $(DESTDIR)$(UNITDIR)/blockwatchd.service
	chmod 644 $(DESTDIR)$(UNITDIR)/blockwatchd.service
	touch -r appliance/systemd/blockwatchd.service.in $(DESTDIR)$(UNITDIR)/blockwatchd.service

# The VM appliance image (image/build-vm.sh; several minutes, needs
# root, loop devices and a Debian mirror).  BW_IMAGE_* settings pass
# through the environment.
IMAGE ?= build/image/blockwatch.qcow2
# The images' tests (minutes each: they build the images, boot the VM
# under emulation and configure it with Ansible), apart from make check.
image-check: deps
	.ci/deps-image
	$(MAKE) BUILD=build/san SAN=1 test-progs
	BW_TEST_DIRS=image/tests BW_TEST_TIMEOUT=1800 tests/run build/san

image:
	rm -rf build/image/stage
	$(MAKE) install DESTDIR=$(CURDIR)/build/image/stage PREFIX=/usr
	image/build-vm.sh build/image/stage $(IMAGE)

clean:
	rm -rf build

# The fuzz targets' objects too: a header changed under them (a struct
# grown) must rebuild them.
-include $(shell find $(OBJ) $(FUZZ_OBJ) -name '*.d' 2>/dev/null)
