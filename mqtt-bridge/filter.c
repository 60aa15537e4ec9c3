/* Selective publishing (see filter.h). */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "filter.h"
#include "topic.h"

static bool
is_path_list (enum bw_filter_list which)
{
  return which == BW_FILTER_INCLUDE || which == BW_FILTER_EXCLUDE;
}

int
bw_filter_add (struct bw_filter *f, enum bw_filter_list which,
               const char *glob)
{
  char **g, *copy;

  if (is_path_list (which) && glob[0] != '/') {
    errno = EINVAL;
    return -1;
  }
  copy = strdup (glob);
  g = realloc (f->globs[which], (f->n[which] + 1) * sizeof *g);
  if (copy == NULL || g == NULL) {
    free (copy);
    if (g)
      f->globs[which] = g;
    return -1;
  }
  g[f->n[which]++] = copy;
  f->globs[which] = g;
  return 0;
}

int
bw_filter_add_data (struct bw_filter *f, const char *glob,
                    const struct bw_data_policy_cfg *policy)
{
  struct bw_data_rule *d;
  char *copy;

  if (glob[0] != '/') {
    errno = EINVAL;
    return -1;
  }
  copy = strdup (glob);
  d = realloc (f->data, (f->n_data + 1) * sizeof *d);
  if (copy == NULL || d == NULL) {
    free (copy);
    if (d)
      f->data = d;
    return -1;
  }
  d[f->n_data++] = (struct bw_data_rule) { .glob = copy, .policy = *policy };
  f->data = d;
  return 0;
}

void
bw_filter_free (struct bw_filter *f)
{
  for (int w = 0; w < 4; w++) {
    for (size_t i = 0; i < f->n[w]; i++)
      free (f->globs[w][i]);
    free (f->globs[w]);
  }
  for (size_t i = 0; i < f->n_data; i++)
    free (f->data[i].glob);
  free (f->data);
  *f = (struct bw_filter) { 0 };
}

bool
bw_filter_wants_path (const struct bw_filter *f)
{
  return f->n[BW_FILTER_INCLUDE] || f->n[BW_FILTER_EXCLUDE] || f->n_data;
}

/* Whether S matches one glob of the list. */
static bool
any (const struct bw_filter *f, enum bw_filter_list which, const char *s)
{
  bool (*match) (const char *, const char *) =
    is_path_list (which) ? bw_glob_path : bw_glob_name;

  for (size_t i = 0; i < f->n[which]; i++)
    if (match (f->globs[which][i], s))
      return true;
  return false;
}

bool
bw_filter_pass (const struct bw_filter *f, enum bw_event_type type,
                const char *escaped_path)
{
  const char *name = bw_event_type_name (type);

  if ((f->n[BW_FILTER_TYPE] && !any (f, BW_FILTER_TYPE, name)) ||
      any (f, BW_FILTER_NOT_TYPE, name))
    return false;
  if (escaped_path == NULL)
    return true;
  return (f->n[BW_FILTER_INCLUDE] == 0 ||
          any (f, BW_FILTER_INCLUDE, escaped_path)) &&
         !any (f, BW_FILTER_EXCLUDE, escaped_path);
}

const struct bw_data_policy_cfg *
bw_filter_data (const struct bw_filter *f, const char *escaped_path,
                const struct bw_data_policy_cfg *deflt)
{
  for (size_t i = 0; escaped_path && i < f->n_data; i++)
    if (bw_glob_path (f->data[i].glob, escaped_path))
      return &f->data[i].policy;
  return deflt;
}
