// zlib (Debian's zlib1g-dev): PNG's deflate streams and CRC-32s.
#include <zlib.h>
