/* Storage URIs, as the plugin's backends and the introspector's
 * readers both take them: which kind of storage a URI names, the path
 * in a file: URI, and the password an NBD URI may carry.  Nothing here
 * knows about nbdkit.
 */
#ifndef BLOCKWATCH_STORAGE_URI_H
#define BLOCKWATCH_STORAGE_URI_H

enum storage_kind {
  STORAGE_EMPTY,                /* "" */
  STORAGE_FILE,                 /* a path or file: URI */
  STORAGE_NBD,                  /* nbd://, nbds://, nbd+unix://, ... */
  STORAGE_ISCSI,                /* iscsi:// */
  STORAGE_UNKNOWN,              /* some other scheme */
};

/* For messages about a URI of kind STORAGE_UNKNOWN. */
#define STORAGE_URI_FORMS "a path, file:, nbd://, nbds://, nbd+unix://, " \
  "nbds+unix:// or iscsi://"

enum storage_kind storage_kind (const char *uri);

/* Length of the scheme of a STORAGE_UNKNOWN uri (before its ':'). */
int storage_scheme_len (const char *uri);

/* The path in a STORAGE_FILE uri: file:P, file:///P and
 * file://localhost/P name P; anything else is a path already.
 */
const char *storage_file_path (const char *uri);

/* The password in an NBD URI's authority (USER:PASSWORD@HOST), in a
 * new string, or NULL.
 */
char *storage_uri_password (const char *uri);

/* msg with every occurrence of secret replaced by "***": msg itself
 * (not copied) when there is nothing to hide or no memory to hide it.
 */
char *storage_scrub (char *msg, const char *secret);

#endif /* BLOCKWATCH_STORAGE_URI_H */
