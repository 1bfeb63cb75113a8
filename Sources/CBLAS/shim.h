// OpenBLAS's CBLAS interface plus its thread-control extensions.
// Debian's libopenblas-dev installs cblas.h into the default include path.
#include <cblas.h>
