/* Preloaded after libasan into nbdkit by the sanitized tests only.
 *
 * nbdkit links GnuTLS, whose p11-kit runs a constructor that calls
 * newlocale() before libasan's own constructor has run (preloaded
 * libraries are initialized after the program's dependencies).  The
 * first malloc inside newlocale then initializes ASan, whose dlerror()
 * goes through gettext and releases glibc's setlocale lock while
 * newlocale holds it; p11-kit's destructor later waits on that lock
 * forever, so every nbdkit that printed an error hung in exit().
 * Allocating once before newlocale initializes ASan outside the lock.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <locale.h>
#include <stdlib.h>

locale_t
newlocale (int mask, const char *locale, locale_t base)
{
  static locale_t (*real) (int, const char *, locale_t);
  void *volatile p = malloc (1);   /* volatile: the pair must not be elided */

  free (p);
  if (real == NULL)
    real = (locale_t (*) (int, const char *, locale_t))
      dlsym (RTLD_NEXT, "newlocale");
  return real (mask, locale, base);
}
