/* Globs over escaped paths, labels and type names (see topic.h).
 *
 * Not fnmatch(3): it has no "**", and what '?' and "[...]" take depends
 * on the process's locale, while these always work on UTF-8 (escaped
 * text is UTF-8 by construction).  Both levels use the one-backtrack
 * scheme: on a mismatch only the last '*' (or "**") takes one more
 * character (level), which is enough because everything between stars
 * matches a fixed number of them; the cost stays the product of the two
 * lengths whatever the glob, so a hostile glob cannot make it explode.
 */

#include <stdint.h>
#include <string.h>

#include "topic.h"

/* Length of the character at s (at most n bytes): its UTF-8 sequence
 * length when the lead byte says so and enough bytes follow, else 1 (a
 * stray byte counts as a character of its own).
 */
static size_t
char_len (const unsigned char *s, size_t n)
{
  size_t len = s[0] < 0x80 ? 1 : s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3
             : s[0] >= 0xc0 ? 2 : 1;

  return len <= n ? len : 1;
}

/* The code point of the character at s, for ranges; its length in *len. */
static uint32_t
code_point (const unsigned char *s, size_t n, size_t *len)
{
  uint32_t c;
  size_t i;

  *len = char_len (s, n);
  if (*len == 1)
    return s[0];
  c = s[0] & (0x7f >> *len);
  for (i = 1; i < *len; i++)
    c = c << 6 | (s[i] & 0x3f);
  return c;
}

/* A set "[...]" at g (glen bytes left, g[0] == '['), against the
 * character c: 1 if it matches, 0 if not, with the set's length in
 * *setlen; -1 if there is no closing ']' (the '[' is then literal).
 */
static int
set_match (const unsigned char *g, size_t glen, uint32_t c, size_t *setlen)
{
  size_t i = 1, n;
  bool neg = false, in = false, first = true;

  if (i < glen && (g[i] == '!' || g[i] == '^')) {
    neg = true;
    i++;
  }
  while (i < glen && (g[i] != ']' || first)) {
    uint32_t lo, hi;

    first = false;
    if (g[i] == '\\' && i + 1 < glen)
      i++;
    lo = code_point (g + i, glen - i, &n);
    i += n;
    hi = lo;
    if (i + 1 < glen && g[i] == '-' && g[i + 1] != ']') {
      i++;
      if (g[i] == '\\' && i + 1 < glen)
        i++;
      hi = code_point (g + i, glen - i, &n);
      i += n;
    }
    if (lo <= c && c <= hi)
      in = true;
  }
  if (i >= glen)
    return -1;
  *setlen = i + 1;
  return in != neg;
}

/* One element of a name glob at g against the character at s: the
 * glob bytes it takes in *gl and the text bytes in *sl, or false.
 */
static bool
element_match (const unsigned char *g, size_t glen,
               const unsigned char *s, size_t slen, size_t *gl, size_t *sl)
{
  size_t n;
  uint32_t c;
  int r;

  switch (g[0]) {
  case '?':
    *gl = 1;
    *sl = char_len (s, slen);
    return true;
  case '[':
    c = code_point (s, slen, &n);
    r = set_match (g, glen, c, gl);
    if (r >= 0) {
      *sl = n;
      return r == 1;
    }
    break;                      /* no ']': a literal '[' */
  case '\\':
    if (glen > 1) {
      *gl = 2;
      *sl = 1;
      return g[1] == s[0];
    }
    break;
  }
  *gl = *sl = 1;
  return g[0] == s[0];
}

static bool
name_match (const unsigned char *g, size_t glen,
            const unsigned char *s, size_t slen)
{
  size_t gi = 0, si = 0, star = SIZE_MAX, mark = 0, gl, sl;

  while (si < slen) {
    if (gi < glen && g[gi] == '*') {
      star = ++gi;
      mark = si;
      continue;
    }
    if (gi < glen &&
        element_match (g + gi, glen - gi, s + si, slen - si, &gl, &sl)) {
      gi += gl;
      si += sl;
      continue;
    }
    if (star == SIZE_MAX)
      return false;
    /* The last star takes one more character. */
    mark += char_len (s + mark, slen - mark);
    gi = star;
    si = mark;
  }
  while (gi < glen && g[gi] == '*')
    gi++;
  return gi == glen;
}

bool
bw_glob_name (const char *glob, const char *name)
{
  return name_match ((const unsigned char *) glob, strlen (glob),
                     (const unsigned char *) name, strlen (name));
}

/* The level of a path starting at p (after its '/'): its length. */
static size_t
level_len (const char *p)
{
  return strcspn (p, "/");
}

/* Next level after the one at p of length n, or NULL at the end. */
static const char *
next_level (const char *p, size_t n)
{
  return p[n] == '/' ? p + n + 1 : NULL;
}

bool
bw_glob_path (const char *glob, const char *path)
{
  const char *g, *p, *star_g = NULL, *star_p = NULL;
  bool starred = false;

  if (glob[0] != '/' || path[0] != '/')
    return false;
  g = glob + 1;
  p = path + 1;
  for (;;) {
    size_t gn = g ? level_len (g) : 0, pn = p ? level_len (p) : 0;

    if (g && gn == 2 && g[0] == '*' && g[1] == '*') {
      starred = true;
      star_g = next_level (g, gn);
      star_p = p;
      g = star_g;
      if (g == NULL)
        return true;            /* a trailing ** takes all the rest */
      continue;
    }
    if (g == NULL && p == NULL)
      return true;
    if (g && p && name_match ((const unsigned char *) g, gn,
                              (const unsigned char *) p, pn)) {
      g = next_level (g, gn);
      p = next_level (p, pn);
      continue;
    }
    /* The last ** takes one more level, if there is one. */
    if (!starred || star_p == NULL)
      return false;
    star_p = next_level (star_p, level_len (star_p));
    if (star_p == NULL)
      return false;
    g = star_g;
    p = star_p;
  }
}

bool
bw_glob_literal (const char *glob, size_t len)
{
  size_t i;

  for (i = 0; i < len; i++)
    switch (glob[i]) {
    case '*': case '?': case '[': case '\\':
      return false;
    }
  return true;
}
