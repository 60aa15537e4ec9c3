/* DOS partition tables: the MBR's four entries and the chain of EBRs
 * inside an extended partition.
 *
 * An EBR is a boot sector of its own whose first entry is one logical
 * partition (its start relative to that EBR) and whose second entry
 * links to the next EBR (its start relative to the start of the
 * extended partition).  The guest writes the chain, so it may loop,
 * point outside the extended partition or go on forever: every EBR is
 * visited once, the chain stays inside its extended partition, and at
 * most PART_MAX EBRs are read in all.
 */

#include <stdio.h>
#include <string.h>

#include "scan.h"

#define MBR_TABLE 0x1be         /* four 16-byte entries */
#define MBR_TYPE_GPT 0xee

struct mbr_entry {
  uint8_t boot;                 /* 0x00 or 0x80 (active) */
  uint8_t type;
  uint32_t start, size;         /* sectors; start relative to a base */
};

/* The EBRs read so far on this disk, by absolute sector. */
struct chain {
  uint64_t seen[PART_MAX];
  int nseen;
  int next_number;              /* Linux numbers logicals from 5 */
};

static struct mbr_entry
entry (const uint8_t *sec, int i)
{
  const uint8_t *p = sec + MBR_TABLE + 16 * i;

  return (struct mbr_entry) {
    .boot = p[0], .type = p[4], .start = le32 (p + 8), .size = le32 (p + 12),
  };
}

static bool
is_extended (uint8_t type)
{
  return type == 0x05 || type == 0x0f || type == 0x85;
}

bool
mbr_has_signature (const uint8_t *sec)
{
  return sec[510] == 0x55 && sec[511] == 0xaa;
}

bool
mbr_is_protective (const uint8_t *sec)
{
  for (int i = 0; i < 4; i++)
    if (entry (sec, i).type == MBR_TYPE_GPT)
      return true;
  return false;
}

/* Entries beside the protective one. */
bool
mbr_is_hybrid (const uint8_t *sec)
{
  for (int i = 0; i < 4; i++) {
    struct mbr_entry e = entry (sec, i);
    if (e.type != MBR_TYPE_GPT && e.size != 0)
      return true;
  }
  return false;
}

/* No entry describes any sectors. */
bool
mbr_is_empty (const uint8_t *sec)
{
  for (int i = 0; i < 4; i++)
    if (entry (sec, i).size != 0)
      return false;
  return true;
}

/* Linux's test that 0x55AA ends a partition table rather than some
 * other boot sector: every boot indicator is 0x00 or 0x80.
 */
bool
mbr_boot_flags_valid (const uint8_t *sec)
{
  for (int i = 0; i < 4; i++) {
    uint8_t b = entry (sec, i).boot;
    if (b != 0x00 && b != 0x80)
      return false;
  }
  return true;
}

static bool
seen_before (struct chain *c, uint64_t lba)
{
  for (int i = 0; i < c->nseen; i++)
    if (c->seen[i] == lba)
      return true;
  return false;
}

/* Follows the EBR chain of the extended partition in slot, lba + n
 * sectors.  -1 only when the disk cannot be read; anything wrong in
 * the chain stops it with a note.
 */
static int
follow_chain (struct part_scan_ctx *s, struct chain *c, int slot,
              uint64_t lba, uint64_t n, char *err, size_t errlen)
{
  const uint64_t end = lba + n;
  uint64_t ebr = lba;
  uint8_t sec[MBR_SIZE];

  for (;;) {
    struct mbr_entry data, link;
    char why[128];

    if (seen_before (c, ebr)) {
      part_note (s->out, "EBR chain of partition %d loops back to sector "
                 "%llu; stopped", slot, (unsigned long long) ebr);
      return 0;
    }
    if (c->nseen == PART_MAX) {
      part_note (s->out, "more than %d EBRs; chain of partition %d stopped",
                 PART_MAX, slot);
      return 0;
    }
    c->seen[c->nseen++] = ebr;
    if (bw_pread (s->disk, sec, sizeof sec, ebr * s->ss, why,
                  sizeof why) == -1) {
      snprintf (err, errlen, "EBR at sector %llu: %s",
                (unsigned long long) ebr, why);
      return -1;
    }
    if (!mbr_has_signature (sec)) {
      part_note (s->out, "EBR at sector %llu has no 0x55AA signature; "
                 "chain of partition %d ends there",
                 (unsigned long long) ebr, slot);
      return 0;
    }

    data = entry (sec, 0);
    if (data.size != 0 && !is_extended (data.type)) {
      /* A refused partition keeps its number, so the ones after it
       * keep the numbers Linux gives them.
       */
      int number = c->next_number++;
      uint64_t start = ebr + data.start;

      if (start > end || data.size > end - start)
        part_note (s->out, "logical partition %d (sectors %llu+%lu) lies "
                   "outside extended partition %d; ignored", number,
                   (unsigned long long) start, (unsigned long) data.size,
                   slot);
      else {
        struct part *p = part_add (s, number, start, data.size);
        if (p == NULL)
          return 0;
        p->mbr_type = data.type;
      }
    }

    link = entry (sec, 1);
    if (link.size == 0)
      return 0;                 /* the last EBR */
    if (!is_extended (link.type)) {
      part_note (s->out, "EBR at sector %llu: second entry is type 0x%02x, "
                 "not a link; chain of partition %d ends there",
                 (unsigned long long) ebr, link.type, slot);
      return 0;
    }
    if (link.start >= n || link.size > n - link.start) {
      part_note (s->out, "EBR at sector %llu links outside extended "
                 "partition %d; chain stopped", (unsigned long long) ebr,
                 slot);
      return 0;
    }
    ebr = lba + link.start;
  }
}

int
mbr_scan (struct part_scan_ctx *s, const uint8_t *mbr, char *err,
          size_t errlen)
{
  struct chain c = { .next_number = 5 };
  int ext_slot[4], next_ext = 0;

  s->out->table = PART_MBR;
  for (int i = 0; i < 4; i++) {
    struct mbr_entry e = entry (mbr, i);
    struct part *p;

    /* Only size marks an entry unused: Linux lists type 0 too. */
    if (e.size == 0)
      continue;
    if (!part_fits (s, e.start, e.size)) {
      part_note (s->out, "partition %d (sectors %lu+%lu) lies outside the "
                 "disk; ignored", i + 1, (unsigned long) e.start,
                 (unsigned long) e.size);
      continue;
    }
    if (is_extended (e.type)) {
      ext_slot[next_ext++] = i;
      continue;
    }
    p = part_add (s, i + 1, e.start, e.size);
    p->mbr_type = e.type;       /* four primaries always fit PART_MAX */
  }
  /* Linux numbers logicals in the order of their extended partitions. */
  for (int k = 0; k < next_ext; k++) {
    struct mbr_entry e = entry (mbr, ext_slot[k]);

    if (follow_chain (s, &c, ext_slot[k] + 1, e.start, e.size,
                      err, errlen) == -1)
      return -1;
  }
  return 0;
}
