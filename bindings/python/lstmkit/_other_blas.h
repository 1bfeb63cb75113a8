/* Other OpenBLAS pools in the process (NumPy's, SciPy's) held at one thread during
 * LSTMKit calls; see _other_blas.c. */
#ifndef LSTMKIT_OTHER_BLAS_H
#define LSTMKIT_OTHER_BLAS_H

/* Finds the pools (at import; again on request). LSTMKIT_LIMIT_OTHER_BLAS=0 in the
 * environment turns the limit off. */
void other_blas_scan(void);
/* Around every LSTMKit call: the first of overlapping calls sets each pool to one
 * thread, the last restores its count. */
void other_blas_limit_begin(void);
void other_blas_limit_end(void);
void other_blas_set_enabled(int on);
int other_blas_enabled(void);
/* The pools found: their files and current thread counts. */
int other_blas_count(void);
const char *other_blas_path(int i);
int other_blas_threads(int i);

#endif
