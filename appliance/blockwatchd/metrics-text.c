/* The Prometheus exposition of blockwatchd's metrics (text format
 * 0.0.4): the daemon's own (processes, restarts, reloads) and those of
 * the stats files its children rewrite every second (plugin-stats.h,
 * watch-stats.h), labelled with the disk.  The metrics are listed in
 * docs/appliance.md.
 */

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "broker.h"
#include "daemon.h"
#include "metrics.h"
#include "tap/stats-file.h"

/* A metric taken from a stats file. */
struct family {
  const char *name, *type, *help;
  enum role role;             /* whose stats file */
  const char *key;            /* a key; ending in '.': all keys after it */
  const char *label;          /* for a prefix: the label the rest is */
};

static const struct family families[] = {
  { "blockwatch_nbd_requests_total", "counter",
    "NBD requests the backend completed, by kind.",
    ROLE_NBDKIT, "requests.", "op" },
  { "blockwatch_nbd_bytes_total", "counter",
    "Bytes of the NBD requests the backend completed, by kind.",
    ROLE_NBDKIT, "bytes.", "op" },
  { "blockwatch_nbd_failed_requests_total", "counter",
    "NBD requests the backend failed, by kind.",
    ROLE_NBDKIT, "failures.", "op" },
  { "blockwatch_backend_max_in_flight", "gauge",
    "Most commands one iSCSI session of the plugin had outstanding at once "
    "(0 for other backends).", ROLE_NBDKIT, "backend.max_in_flight", NULL },
  { "blockwatch_tap_records_total", "counter",
    "Records the plugin put into the tap.", ROLE_NBDKIT, "tap.records", NULL },
  { "blockwatch_tap_bytes_total", "counter",
    "Payload bytes the plugin put into the tap.", ROLE_NBDKIT, "tap.bytes",
    NULL },
  { "blockwatch_tap_dropped_records_total", "counter",
    "Tap records dropped because the buffer was full (reported to the "
    "introspector as overflows).", ROLE_NBDKIT, "tap.dropped", NULL },
  { "blockwatch_tap_overflows_total", "counter",
    "Overflow records the tap emitted.", ROLE_NBDKIT, "tap.overflows", NULL },
  { "blockwatch_tap_consumer_connects_total", "counter",
    "Times the introspector connected to the plugin's tap.",
    ROLE_NBDKIT, "tap.connects", NULL },
  { "blockwatch_tap_acked_seq", "gauge",
    "Highest tap sequence number the introspector acknowledged.",
    ROLE_NBDKIT, "tap.acked_seq", NULL },
  { "blockwatch_tap_buffer_used_bytes", "gauge",
    "Bytes waiting in the tap buffer for the introspector.",
    ROLE_NBDKIT, "tap.depth_bytes", NULL },
  { "blockwatch_tap_buffer_size_bytes", "gauge",
    "Size of the tap buffer.", ROLE_NBDKIT, "tap.capacity_bytes", NULL },
  { "blockwatch_tap_deferred_writes_total", "counter",
    "Large writes the tap passed on without copying their bytes (the "
    "introspector read them from the storage).",
    ROLE_NBDKIT, "tap.deferred", NULL },
  { "blockwatch_tap_kept_writes_total", "counter",
    "Deferred writes whose bytes the plugin copied into the tap because "
    "they were about to be overwritten before the introspector read them.",
    ROLE_NBDKIT, "tap.kept", NULL },
  { "blockwatch_tap_keep_failures_total", "counter",
    "Deferred writes whose bytes could not be read back to keep them (the "
    "introspector is told they are lost).",
    ROLE_NBDKIT, "tap.keep_failed", NULL },
  { "blockwatch_events_total", "counter",
    "File events the introspector produced, by type.",
    ROLE_WATCH, "events.", "type" },
  { "blockwatch_introspector_lost_records_total", "counter",
    "Tap records the introspector's overflow events said were lost.",
    ROLE_WATCH, "lost_records", NULL },
  { "blockwatch_introspector_lost_writes_total", "counter",
    "Writes of file data the introspector gave up: held ones whose write "
    "events never came, or ones whose data could not be read (its overflow "
    "events say so).",
    ROLE_WATCH, "lost_writes", NULL },
  { "blockwatch_events_unwritten_total", "counter",
    "Events the introspector could not write to its events file (its disk "
    "full): an overflow event in the file says how many, once it can be "
    "written again.", ROLE_WATCH, "events_unwritten", NULL },
  { "blockwatch_introspector_records_total", "counter",
    "Tap records the introspector took.", ROLE_WATCH, "tap.records", NULL },
  { "blockwatch_introspector_seq", "gauge",
    "Sequence number of the last tap record the introspector took.",
    ROLE_WATCH, "tap.seq", NULL },
  { "blockwatch_introspector_deferred_payload_bytes", "gauge",
    "Memory holding the bytes of large writes the introspector read from "
    "the storage (deferred payloads): about the most it held at once "
    "before acknowledging them.", ROLE_WATCH, "tap.shadow_bytes", NULL },
  { "blockwatch_introspector_connects_total", "counter",
    "Tap connections the introspector accepted.", ROLE_WATCH,
    "tap.connects", NULL },
  { "blockwatch_introspector_crawling", "gauge",
    "1 while the introspector crawls the disk, before it follows the tap.",
    ROLE_WATCH, "crawling", NULL },
  { "blockwatch_crawl_inodes_scanned", "gauge",
    "Inodes the crawl has scanned of the file system it crawls (or "
    "crawled last).", ROLE_WATCH, "crawl.inodes_done", NULL },
  { "blockwatch_crawl_inodes", "gauge",
    "Inodes of the file system the crawl scans (or scanned last).",
    ROLE_WATCH, "crawl.inodes_total", NULL },
  { "blockwatch_introspector_filesystems", "gauge",
    "File systems the introspector follows.", ROLE_WATCH, "filesystems", NULL },
  { "blockwatch_introspector_model_bytes", "gauge",
    "Memory the introspector's models of the file systems take (model-max "
    "bounds each).", ROLE_WATCH, "model.bytes", NULL },
  { "blockwatch_exact_view_blocks", "gauge",
    "Blocks of the last handled writes the introspector keeps, so that "
    "it reads the disk as of its records, not the storage ahead of them.",
    ROLE_WATCH, "exact.blocks", NULL },
  { "blockwatch_exact_view_bytes", "gauge",
    "Memory the kept writes take.", ROLE_WATCH, "exact.bytes", NULL },
  { "blockwatch_exact_view_evicted_total", "counter",
    "Kept blocks that gave way to newer ones (exact-metadata, exact-data "
    "bound them).", ROLE_WATCH, "exact.evicted", NULL },
  { "blockwatch_exact_view_evicted_reads_total", "counter",
    "Blocks read from the storage after they gave way (at least): each may "
    "have been ahead of the records; more than 0, and the bounds matter.",
    ROLE_WATCH, "exact.evicted_reads", NULL },
  { "blockwatch_mqtt_connected", "gauge",
    "1 while the disk's MQTT bridge is connected to the broker, else 0.",
    ROLE_WATCH, "mqtt.connected", NULL },
  { "blockwatch_mqtt_connects_total", "counter",
    "Connections the disk's MQTT bridge made to the broker.",
    ROLE_WATCH, "mqtt.connects", NULL },
  { "blockwatch_mqtt_published_total", "counter",
    "Events the broker acknowledged (QoS 0: written to it).",
    ROLE_WATCH, "mqtt.published", NULL },
  { "blockwatch_mqtt_filtered_total", "counter",
    "Events not published by the disk's policy (include, exclude, type).",
    ROLE_WATCH, "mqtt.filtered", NULL },
  { "blockwatch_mqtt_dropped_total", "counter",
    "Events dropped from the MQTT bridge's full buffer (reported by "
    "overflow events).", ROLE_WATCH, "mqtt.dropped", NULL },
  { "blockwatch_mqtt_dropped_unconfirmed_total", "counter",
    "Of the events dropped from the MQTT bridge's full buffer, those it "
    "had sent before a connection broke, unacknowledged: the broker may "
    "have had them after all.", ROLE_WATCH, "mqtt.dropped_unconfirmed",
    NULL },
  { "blockwatch_mqtt_refused_total", "counter",
    "Events the broker refused (MQTT 5 PUBACK with an error: an ACL).",
    ROLE_WATCH, "mqtt.refused", NULL },
  { "blockwatch_mqtt_queued_messages", "gauge",
    "Messages waiting in the MQTT bridge's buffer.",
    ROLE_WATCH, "mqtt.queued", NULL },
  { "blockwatch_mqtt_in_flight_messages", "gauge",
    "Messages handed to the broker and not yet acknowledged.",
    ROLE_WATCH, "mqtt.in_flight", NULL },
  { "blockwatch_mqtt_buffered_bytes", "gauge",
    "Bytes of the messages in the MQTT bridge's buffer.",
    ROLE_WATCH, "mqtt.buffered_bytes", NULL },
};

#define NFAMILIES (sizeof families / sizeof families[0])

static void
header (FILE *out, const char *name, const char *type, const char *help)
{
  fprintf (out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value: backslash, quote and newline escaped. */
static void
label_value (FILE *out, const char *s)
{
  for (; *s; s++) {
    if (*s == '\\' || *s == '"')
      fputc ('\\', out);
    if (*s == '\n')
      fputs ("\\n", out);
    else
      fputc (*s, out);
  }
}

static void
sample (FILE *out, const char *name, const struct disk *k,
        const char *label, const char *value_of_label)
{
  fprintf (out, "%s{disk=\"%s\"", name, k->name);
  if (label) {
    fprintf (out, ",%s=\"", label);
    label_value (out, value_of_label);
    fputc ('"', out);
  }
  fputs ("} ", out);
}

/* A disk has this process (configured, or still stopping): not every
 * disk has an iSCSI front end.
 */
static bool
has_role (const struct disk *k, int r)
{
  return k->ch[r].next.argv.n > 0 || k->ch[r].state != CHILD_DOWN;
}

/* The stats of every running child, read once per scrape. */
struct snapshots {
  struct stats_snapshot *s;   /* [disk * NROLES + role] */
  bool *ok;
};

static bool
load (struct snapshots *sn, const struct daemon *dm)
{
  char err[256];

  sn->s = calloc (dm->ndisks * NROLES, sizeof *sn->s);
  sn->ok = calloc (dm->ndisks * NROLES, sizeof *sn->ok);
  if (sn->s == NULL || sn->ok == NULL)
    return false;
  for (size_t i = 0; i < dm->ndisks; i++)
    for (int r = 0; r < NROLES; r++) {
      const struct child *ch = &dm->disks[i]->ch[r];
      /* A file of a process that is not running is not its numbers. */
      sn->ok[i * NROLES + r] =
        ch->state == CHILD_UP && ch->cmd.stats &&
        stats_read (ch->cmd.stats, &sn->s[i * NROLES + r], err,
                    sizeof err) == 0;
    }
  return true;
}

static void
unload (struct snapshots *sn, const struct daemon *dm)
{
  for (size_t i = 0; sn->s && i < dm->ndisks * NROLES; i++)
    stats_snapshot_free (&sn->s[i]);
  free (sn->s);
  free (sn->ok);
}

static void
write_family (FILE *out, const struct family *f, const struct daemon *dm,
              const struct snapshots *sn)
{
  size_t plen = strlen (f->key);
  bool prefix = f->key[plen - 1] == '.';

  header (out, f->name, f->type, f->help);
  for (size_t i = 0; i < dm->ndisks; i++) {
    const struct stats_snapshot *s = &sn->s[i * NROLES + f->role];
    if (!sn->ok[i * NROLES + f->role])
      continue;
    for (size_t j = 0; j < s->n; j++) {
      if (prefix ? strncmp (s->v[j].key, f->key, plen) != 0
                 : strcmp (s->v[j].key, f->key) != 0)
        continue;
      sample (out, f->name, dm->disks[i], prefix ? f->label : NULL,
              s->v[j].key + plen);
      fprintf (out, "%llu\n", (unsigned long long) s->v[j].value);
    }
  }
}

/* The daemon's own metrics. */
static void
write_processes (FILE *out, const struct daemon *dm,
                 const struct snapshots *sn)
{
  struct timespec ts;
  double now;

  clock_gettime (CLOCK_REALTIME, &ts);
  now = ts.tv_sec + ts.tv_nsec / 1e9;
  header (out, "blockwatch_disk_info", "gauge",
          "A configured disk, with its VM, always 1.");
  for (size_t i = 0; i < dm->ndisks; i++) {
    if (dm->disks[i]->removing)
      continue;
    sample (out, "blockwatch_disk_info", dm->disks[i], "vm",
            dm->disks[i]->vm);
    fputs ("1\n", out);
  }
  header (out, "blockwatch_up", "gauge",
          "1 if a disk's process (nbdkit, introspector, iscsi) runs, "
          "else 0.");
  for (size_t i = 0; i < dm->ndisks; i++)
    for (int r = 0; r < NROLES; r++) {
      if (dm->disks[i]->removing || !has_role (dm->disks[i], r))
        continue;
      sample (out, "blockwatch_up", dm->disks[i], "process", role_name (r));
      fprintf (out, "%d\n", dm->disks[i]->ch[r].state == CHILD_UP);
    }
  header (out, "blockwatch_restarts_total", "counter",
          "Times a disk's process was started again after it exited on "
          "its own.");
  for (size_t i = 0; i < dm->ndisks; i++)
    for (int r = 0; r < NROLES; r++) {
      if (!has_role (dm->disks[i], r))
        continue;
      sample (out, "blockwatch_restarts_total", dm->disks[i], "process",
              role_name (r));
      fprintf (out, "%u\n", dm->disks[i]->ch[r].restarts);
    }
  header (out, "blockwatch_stats_age_seconds", "gauge",
          "How old a process's stats are (it rewrites them every second; "
          "more means it is stuck).");
  for (size_t i = 0; i < dm->ndisks; i++)
    for (int r = 0; r < NROLES; r++) {
      if (!sn->ok[i * NROLES + r])
        continue;
      sample (out, "blockwatch_stats_age_seconds", dm->disks[i], "process",
              role_name (r));
      fprintf (out, "%.3f\n", now - sn->s[i * NROLES + r].time_ns / 1e9);
    }
  header (out, "blockwatch_config_last_reload_successful", "gauge",
          "1 if the configuration file last loaded (start or SIGHUP) was "
          "valid, else 0 (the previous one stays in force).");
  fprintf (out, "blockwatch_config_last_reload_successful %d\n",
           dm->reload_ok);
  if (dm->broker) {
    header (out, "blockwatch_appliance_mqtt_connected", "gauge",
            "1 while blockwatchd's own connection to the broker (the "
            "appliance's $status) is up, else 0.");
    fprintf (out, "blockwatch_appliance_mqtt_connected %d\n",
             broker_connected (dm->broker));
  }
}

void
metrics_write (FILE *out, const struct daemon *dm)
{
  struct snapshots sn = { 0 };

  if (!load (&sn, dm)) {
    unload (&sn, dm);
    return;
  }
  write_processes (out, dm, &sn);
  for (size_t f = 0; f < NFAMILIES; f++)
    write_family (out, &families[f], dm, &sn);
  unload (&sn, dm);
}

bool
metrics_down (FILE *out, const struct daemon *dm)
{
  bool down = false;

  for (size_t i = 0; i < dm->ndisks; i++)
    for (int r = 0; r < NROLES; r++) {
      const struct child *ch = &dm->disks[i]->ch[r];
      if (ch->want && ch->state != CHILD_UP) {
        fprintf (out, "disk %s: %s is down\n", dm->disks[i]->name,
                 role_name (r));
        down = true;
      }
    }
  return down;
}
