#!/usr/bin/env python3
"""Journal blocks as the kernel's jbd2 writes them, checksums included,
for the seeds of make-ext4-seeds.sh (whose journals are too small for
debugfs's journal writer, which wants 1024 blocks at least).  The
checksums follow the journal superblock's features: csum v2 or v3
(crc32c seeded with the journal's UUID: the superblock's own, each
descriptor and revoke block's tail, each copy's tag, the commit block),
or the compat crc32 of journal_checksum (over the transaction's
descriptors and copies, in the commit block).  Writes the blocks to
stdout.

  jbd2-blocks.py super JSB COMPAT INCOMPAT SEQUENCE START
      JSB (a journal superblock, one block) with those fields, the
      crc32c checksum type when INCOMPAT has csum v2/v3, and its
      checksum
  jbd2-blocks.py txn JSB TID IMAGE HOME...
      a descriptor tagging the HOME blocks, their copies (read from
      IMAGE), and the commit block of transaction TID
  jbd2-blocks.py revoke JSB TID BLOCK...
      a revoke block of transaction TID revoking the BLOCKs, and its
      commit block
"""
import struct
import sys

MAGIC = 0xC03B3998
DESCRIPTOR, COMMIT, REVOKE = 1, 2, 5
COMPAT_CHECKSUM = 0x1
INCOMPAT_64BIT, INCOMPAT_CSUM_V2, INCOMPAT_CSUM_V3 = 0x2, 0x8, 0x10
FLAG_SAME_UUID, FLAG_LAST_TAG = 2, 8


def table(poly, reflected):
    t = []
    for i in range(256):
        c = i if reflected else i << 24
        for _ in range(8):
            if reflected:
                c = (c >> 1) ^ poly if c & 1 else c >> 1
            else:
                c = ((c << 1) ^ poly if c & 0x80000000 else c << 1) & 0xFFFFFFFF
        t.append(c)
    return t


CRC32C = table(0x82F63B78, True)
CRC32_BE = table(0x04C11DB7, False)


def crc32c(crc, data):
    """As the kernel's crc32c_le and e2fsprogs' ext2fs_crc32c_le: no
    inversion before or after (the callers seed with ~0)."""
    for b in data:
        crc = CRC32C[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc


def crc32_be(crc, data):
    for b in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ CRC32_BE[(crc >> 24) ^ b]
    return crc


class Journal:
    def __init__(self, jsb):
        self.sb = jsb
        self.bs, = struct.unpack_from(">I", jsb, 0xC)
        self.compat, self.incompat = struct.unpack_from(">II", jsb, 0x24)
        self.uuid = jsb[0x30:0x40]
        self.csum = bool(self.incompat & (INCOMPAT_CSUM_V2 | INCOMPAT_CSUM_V3))
        self.seed = crc32c(0xFFFFFFFF, self.uuid)
        self.crc = 0xFFFFFFFF   # compat: over the transaction

    def header(self, kind, tid):
        b = bytearray(self.bs)
        struct.pack_into(">III", b, 0, MAGIC, kind, tid)
        return b

    def tail(self, b):
        """Descriptor and revoke blocks: a crc32c of the block in its
        last 4 bytes (csum v2/v3)."""
        if self.csum:
            struct.pack_into(">I", b, self.bs - 4, crc32c(self.seed, bytes(b)))
        return bytes(b)

    def tag(self, tid, home, copy, flags):
        v3 = self.incompat & INCOMPAT_CSUM_V3
        b64 = self.incompat & INCOMPAT_64BIT
        csum = crc32c(crc32c(self.seed, struct.pack(">I", tid)), copy)
        if v3:
            return struct.pack(">IIII", home & 0xFFFFFFFF, flags, home >> 32,
                               csum)
        t = struct.pack(">IHH", home & 0xFFFFFFFF,
                        csum & 0xFFFF if self.csum else 0, flags)
        if b64:
            t += struct.pack(">I", home >> 32)
        if self.incompat & INCOMPAT_CSUM_V2:
            t += b"\0\0"
        return t

    def commit(self, tid):
        b = self.header(COMMIT, tid)
        struct.pack_into(">QI", b, 0x30, 1700000000, 0)
        if self.csum:
            struct.pack_into(">I", b, 0x10, crc32c(self.seed, bytes(b)))
        elif self.compat & COMPAT_CHECKSUM:
            struct.pack_into(">BBxxI", b, 0xC, 1, 4, self.crc)
        return bytes(b)

    def txn(self, tid, image, homes):
        d = self.header(DESCRIPTOR, tid)
        copies = []
        off = 12
        for i, home in enumerate(homes):
            copy = image[home * self.bs:(home + 1) * self.bs]
            if struct.unpack_from(">I", copy)[0] == MAGIC:
                sys.exit(f"block {home} starts with the journal's magic")
            flags = (FLAG_SAME_UUID if i else 0) | \
                (FLAG_LAST_TAG if i == len(homes) - 1 else 0)
            t = self.tag(tid, home, copy, flags)
            if i == 0:
                t += self.uuid
            d[off:off + len(t)] = t
            off += len(t)
            copies.append(copy)
        if off > self.bs - (4 if self.csum else 0):
            sys.exit("too many blocks for one descriptor")
        d = self.tail(d)
        if self.compat & COMPAT_CHECKSUM:
            for b in [d] + copies:
                self.crc = crc32_be(self.crc, b)
        return d + b"".join(copies) + self.commit(tid)

    def revoke(self, tid, blocks):
        b = self.header(REVOKE, tid)
        size = 8 if self.incompat & INCOMPAT_64BIT else 4
        for i, blk in enumerate(blocks):
            struct.pack_into(">Q" if size == 8 else ">I", b, 16 + i * size, blk)
        struct.pack_into(">I", b, 12, 16 + len(blocks) * size)
        return self.tail(b) + self.commit(tid)


def main(argv):
    cmd, jsb = argv[1], bytearray(open(argv[2], "rb").read())
    if cmd == "super":
        compat, incompat, seq, start = (int(x, 0) for x in argv[3:7])
        struct.pack_into(">IIII", jsb, 0x18, seq, start, 0, compat)
        struct.pack_into(">I", jsb, 0x28, incompat)
        if incompat & (INCOMPAT_CSUM_V2 | INCOMPAT_CSUM_V3):
            jsb[0x50] = 4       # crc32c
            struct.pack_into(">I", jsb, 0xFC, 0)
            struct.pack_into(">I", jsb, 0xFC, crc32c(0xFFFFFFFF, bytes(jsb[:1024])))
        out = bytes(jsb)
    elif cmd == "txn":
        image = open(argv[4], "rb").read()
        out = Journal(jsb).txn(int(argv[3], 0), image,
                               [int(x, 0) for x in argv[5:]])
    elif cmd == "revoke":
        out = Journal(jsb).revoke(int(argv[3], 0), [int(x, 0) for x in argv[4:]])
    else:
        sys.exit(__doc__)
    sys.stdout.buffer.write(out)


main(sys.argv)
