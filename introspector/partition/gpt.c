/* GUID partition tables: the primary header at LBA 1 with its entry
 * array, or the backup header (normally at the last LBA) when the
 * primary is damaged.
 *
 * A header is used only if everything in it checks: signature,
 * revision 1.x, size, CRC, its own LBA, usable LBAs on the disk, and an
 * entry array of sane geometry that lies on the disk and matches its
 * CRC.  Where the array is and how big come from the header, capped so
 * that a hostile header cannot make us read or allocate much.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crc32.h"
#include "scan.h"

#define GPT_SIGNATURE "EFI PART"
#define GPT_HEADER_MIN 92             /* the fields of revision 1.0 */
#define GPT_ENTRY_MIN 128
#define GPT_ENTRY_MAX 4096
#define GPT_ENTRIES_MAX 4096          /* 128 is usual */
#define GPT_ARRAY_MAX (1024 * 1024)   /* bytes of entry array read */
#define GPT_NAME_UNITS 36             /* UTF-16 code units at entry byte 56 */

struct gpt {
  uint64_t lba;                 /* where the header is */
  uint64_t alternate;           /* where it says the other copy is */
  uint64_t first_usable, last_usable;
  uint32_t nentries, entry_size;
  uint8_t *entries;             /* the checked array (malloc) */
};

/* Checks what the header h (read at g->lba) says about itself. */
static int
check_header (struct part_scan_ctx *s, uint8_t *h, struct gpt *g,
              char *why, size_t whylen)
{
  uint32_t rev = le32 (h + 8), hsize = le32 (h + 12), crc = le32 (h + 16);

  if (rev >> 16 != 1) {
    snprintf (why, whylen, "revision 0x%08x is not 1.x", rev);
    return -1;
  }
  if (hsize < GPT_HEADER_MIN || hsize > s->ss) {
    snprintf (why, whylen, "header size %u is outside %d..%u", hsize,
              GPT_HEADER_MIN, s->ss);
    return -1;
  }
  /* The CRC covers the header with its own CRC field zeroed. */
  memset (h + 16, 0, 4);
  if (bw_crc32 (0, h, hsize) != crc) {
    snprintf (why, whylen, "header CRC 0x%08x, computed 0x%08x", crc,
              bw_crc32 (0, h, hsize));
    return -1;
  }
  if (le64 (h + 24) != g->lba) {
    snprintf (why, whylen, "header says it is at LBA %llu",
              (unsigned long long) le64 (h + 24));
    return -1;
  }
  g->first_usable = le64 (h + 40);
  g->last_usable = le64 (h + 48);
  if (g->first_usable > g->last_usable || g->last_usable >= s->sectors) {
    snprintf (why, whylen, "usable LBAs %llu..%llu do not fit the disk's "
              "%llu sectors", (unsigned long long) g->first_usable,
              (unsigned long long) g->last_usable,
              (unsigned long long) s->sectors);
    return -1;
  }
  return 0;
}

/* Reads the entry array the header h describes and checks its CRC. */
static int
read_array (struct part_scan_ctx *s, const uint8_t *h, struct gpt *g,
            char *why, size_t whylen)
{
  uint64_t lba = le64 (h + 72), nbytes;
  uint32_t crc;

  g->nentries = le32 (h + 80);
  g->entry_size = le32 (h + 84);
  if (g->entry_size < GPT_ENTRY_MIN || g->entry_size > GPT_ENTRY_MAX
      || g->entry_size % 8 != 0) {
    snprintf (why, whylen, "entry size %u (must be %d..%d, a multiple of 8)",
              g->entry_size, GPT_ENTRY_MIN, GPT_ENTRY_MAX);
    return -1;
  }
  nbytes = (uint64_t) g->nentries * g->entry_size;
  if (g->nentries > GPT_ENTRIES_MAX || nbytes > GPT_ARRAY_MAX) {
    snprintf (why, whylen, "%u entries of %u bytes are too many",
              g->nentries, g->entry_size);
    return -1;
  }
  if (!part_fits (s, lba, (nbytes + s->ss - 1) / s->ss)) {
    snprintf (why, whylen, "entry array at LBA %llu runs past the end of "
              "the disk", (unsigned long long) lba);
    return -1;
  }
  g->entries = malloc (nbytes > 0 ? nbytes : 1);
  if (g->entries == NULL) {
    snprintf (why, whylen, "out of memory");
    return -1;
  }
  if (nbytes > 0 && bw_pread (s->disk, g->entries, nbytes, lba * s->ss,
                              why, whylen) == -1)
    return -1;
  crc = bw_crc32 (0, g->entries, nbytes);
  if (crc != le32 (h + 88)) {
    snprintf (why, whylen, "entry array CRC 0x%08x, computed 0x%08x",
              le32 (h + 88), crc);
    return -1;
  }
  return 0;
}

/* Reads and checks the header at lba and its entry array: 0 with g
 * filled in, -1 with why.  g->alternate is set once the signature
 * matches, so a damaged primary can still say where its backup is.
 */
static int
read_gpt (struct part_scan_ctx *s, uint64_t lba, struct gpt *g,
          char *why, size_t whylen)
{
  uint8_t *h;
  int ret = -1;

  memset (g, 0, sizeof *g);
  g->lba = lba;
  if (lba >= s->sectors) {
    snprintf (why, whylen, "past the end of the disk");
    return -1;
  }
  h = malloc (s->ss);
  if (h == NULL) {
    snprintf (why, whylen, "out of memory");
    return -1;
  }
  if (bw_pread (s->disk, h, s->ss, lba * s->ss, why, whylen) == -1)
    goto out;
  if (memcmp (h, GPT_SIGNATURE, 8) != 0) {
    snprintf (why, whylen, "no GPT signature");
    goto out;
  }
  g->alternate = le64 (h + 32);
  if (check_header (s, h, g, why, whylen) == -1
      || read_array (s, h, g, why, whylen) == -1)
    goto out;
  ret = 0;
 out:
  if (ret == -1) {
    free (g->entries);
    g->entries = NULL;
  }
  free (h);
  return ret;
}

static void
list_entries (struct part_scan_ctx *s, const struct gpt *g)
{
  static const uint8_t unused[16];

  for (uint32_t i = 0; i < g->nentries; i++) {
    const uint8_t *e = g->entries + (size_t) i * g->entry_size;
    uint64_t first = le64 (e + 32), last = le64 (e + 40);
    struct part *p;

    if (memcmp (e, unused, sizeof unused) == 0)
      continue;
    if (first > last || first < g->first_usable || last > g->last_usable) {
      part_note (s->out, "GPT partition %u (LBA %llu..%llu) lies outside "
                 "the usable LBAs; ignored", i + 1,
                 (unsigned long long) first, (unsigned long long) last);
      continue;
    }
    p = part_add (s, i + 1, first, last - first + 1);
    if (p == NULL)
      return;
    memcpy (p->gpt_type, e, sizeof p->gpt_type);
    part_utf16le_to_utf8 (p->name, sizeof p->name, e + 56, GPT_NAME_UNITS);
  }
}

int
gpt_scan (struct part_scan_ctx *s, char *err, size_t errlen)
{
  const uint64_t last = s->sectors > 0 ? s->sectors - 1 : 0;
  struct gpt pri, bak;
  char pwhy[128], bwhy[128];
  bool ok;

  s->out->table = PART_GPT;
  if (read_gpt (s, 1, &pri, pwhy, sizeof pwhy) == 0) {
    /* The backup is checked only to say when it is damaged. */
    if (read_gpt (s, pri.alternate, &bak, bwhy, sizeof bwhy) == 0)
      free (bak.entries);
    else
      part_note (s->out, "GPT backup at LBA %llu damaged (%s)",
                 (unsigned long long) pri.alternate, bwhy);
    list_entries (s, &pri);
    free (pri.entries);
    return 0;
  }

  /* The backup's usual place first, then wherever the primary says. */
  ok = read_gpt (s, last, &bak, bwhy, sizeof bwhy) == 0;
  if (!ok && pri.alternate > 1 && pri.alternate != last)
    ok = read_gpt (s, pri.alternate, &bak, bwhy, sizeof bwhy) == 0;
  if (!ok) {
    snprintf (err, errlen, "protective MBR but no usable GPT: primary: %s; "
              "backup at LBA %llu: %s", pwhy, (unsigned long long) bak.lba,
              bwhy);
    return -1;
  }
  part_note (s->out, "GPT primary damaged (%s); backup at LBA %llu used",
             pwhy, (unsigned long long) bak.lba);
  list_entries (s, &bak);
  free (bak.entries);
  return 0;
}
