/*
 * Keeps other OpenBLAS thread pools in the process (NumPy's, SciPy's) at one thread while
 * a LSTMKit call runs, so that they and LSTMKit's own threads do not oversubscribe the
 * cores. NumPy wheels carry their own OpenBLAS (scipy-openblas), separate from the one
 * liblstmkit.so links; each sizes its pool to every core.
 *
 * At import the loaded objects are scanned (dl_iterate_phdr) for OpenBLAS builds that
 * export a set/get-num-threads pair under one of the known names; the OpenBLAS that
 * liblstmkit.so itself uses is skipped (lk_set_num_threads manages it). Calls that nest
 * or overlap (several Python threads in LSTMKit at once) share one limit: the first to
 * start saves each pool's count and sets 1, the last to end restores it. A child forked
 * while calls ran (their threads are not copied) restores the counts at its first call.
 */
#include "_common.h" /* Python.h first: it defines _GNU_SOURCE, which dladdr needs */

#include <dlfcn.h>
#include <link.h>
#include <stdlib.h>

#define MAX_POOLS 8

typedef struct {
    char path[512];
    void (*set_threads)(int);
    int (*get_threads)(void);
    int saved; /* the count before the current limit; 0 if it was 1 or unknown */
} other_pool;

static other_pool pools[MAX_POOLS];
static int pool_count = 0;
static int enabled = 1;
static int active_calls = 0;
static int orphaned = 0; /* a forked child: the pools are still held for the parent's calls */
static pthread_mutex_t guard_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t fork_handlers_registered = PTHREAD_ONCE_INIT;

/* fork waits for guard_lock, so the child copies the state whole and the lock free. */
static void lock_before_fork(void)
{
    pthread_mutex_lock(&guard_lock);
}

static void unlock_after_fork(void)
{
    pthread_mutex_unlock(&guard_lock);
}

static void reset_in_child(void)
{
    pthread_mutex_init(&guard_lock, NULL);
    orphaned = active_calls > 0;
    active_calls = 0;
}

static void register_fork_handlers(void)
{
    pthread_atfork(lock_before_fork, unlock_after_fork, reset_in_child);
}

/* Under guard_lock: gives each pool the count saved when the limit began. */
static void restore_pools(void)
{
    int i;
    for (i = 0; i < pool_count; i++) {
        if (pools[i].saved > 1)
            pools[i].set_threads(pools[i].saved);
        pools[i].saved = 0;
    }
}

/* Under guard_lock: in a child forked during calls, gives the pools their counts back
 * (not in the fork handler: raising a pool's count may start threads). */
static void restore_orphaned(void)
{
    if (orphaned)
        restore_pools();
    orphaned = 0;
}

/* set/get pairs, as OpenBLAS builds name them (plain, 64-bit-integer suffix, the
 * scipy-openblas wheels' prefix). */
static const char *const symbol_names[][2] = {
    {"openblas_set_num_threads", "openblas_get_num_threads"},
    {"openblas_set_num_threads64_", "openblas_get_num_threads64_"},
    {"scipy_openblas_set_num_threads64_", "scipy_openblas_get_num_threads64_"},
    {"scipy_openblas_set_num_threads", "scipy_openblas_get_num_threads"},
};

/* The file defining the symbol at address, or NULL. */
static const char *defining_file(void *address)
{
    Dl_info info;
    return address != NULL && dladdr(address, &info) && info.dli_fname != NULL ? info.dli_fname : NULL;
}

/* The file of the OpenBLAS liblstmkit.so resolves its own calls to (NULL if unknown). */
static const char *own_blas_file(void)
{
    static char own[512];
    const char *lstmkit = defining_file((void *)lk_version);
    const char *file;
    void *handle;

    if (lstmkit == NULL || (handle = dlopen(lstmkit, RTLD_LAZY | RTLD_NOLOAD)) == NULL)
        return NULL;
    /* dlsym on liblstmkit's handle searches its dependencies: the OpenBLAS it links. */
    file = defining_file(dlsym(handle, "openblas_set_num_threads"));
    if (file != NULL)
        strncpy(own, file, sizeof own - 1);
    dlclose(handle);
    return file != NULL ? own : NULL;
}

static int consider_object(struct dl_phdr_info *info, size_t size, void *own_file)
{
    const char *name = info->dlpi_name;
    void *handle;
    size_t i;
    (void)size;

    if (name == NULL || name[0] == '\0' || strstr(name, "blas") == NULL || pool_count == MAX_POOLS)
        return 0;
    if (own_file != NULL && strcmp(name, (const char *)own_file) == 0)
        return 0;
    if ((handle = dlopen(name, RTLD_LAZY | RTLD_NOLOAD)) == NULL)
        return 0;
    for (i = 0; i < sizeof symbol_names / sizeof symbol_names[0]; i++) {
        void *set = dlsym(handle, symbol_names[i][0]), *get = dlsym(handle, symbol_names[i][1]);
        const char *file = defining_file(set);
        /* Only symbols defined in this very object (dlsym also searches its dependencies). */
        if (get == NULL || file == NULL || strcmp(file, name) != 0)
            continue;
        if (own_file != NULL && strcmp(file, (const char *)own_file) == 0)
            break;
        other_pool *p = &pools[pool_count++];
        strncpy(p->path, name, sizeof p->path - 1);
        p->set_threads = (void (*)(int))set;
        p->get_threads = (int (*)(void))get;
        break;
    }
    dlclose(handle); /* the object stays loaded: it was loaded before (RTLD_NOLOAD) */
    return 0;
}

void other_blas_scan(void)
{
    const char *setting = getenv("LSTMKIT_LIMIT_OTHER_BLAS");
    pthread_once(&fork_handlers_registered, register_fork_handlers);
    pthread_mutex_lock(&guard_lock);
    restore_orphaned();
    if (active_calls == 0) {
        pool_count = 0;
        dl_iterate_phdr(consider_object, (void *)own_blas_file());
    }
    if (setting != NULL && strcmp(setting, "0") == 0)
        enabled = 0;
    pthread_mutex_unlock(&guard_lock);
}

void other_blas_limit_begin(void)
{
    int i;
    pthread_mutex_lock(&guard_lock);
    restore_orphaned();
    if (active_calls++ == 0 && enabled) {
        for (i = 0; i < pool_count; i++) {
            int n = pools[i].get_threads();
            pools[i].saved = n > 1 ? n : 0;
            if (n > 1)
                pools[i].set_threads(1);
        }
    }
    pthread_mutex_unlock(&guard_lock);
}

void other_blas_limit_end(void)
{
    pthread_mutex_lock(&guard_lock);
    if (--active_calls == 0)
        restore_pools();
    pthread_mutex_unlock(&guard_lock);
}

void other_blas_set_enabled(int on)
{
    pthread_mutex_lock(&guard_lock);
    enabled = on;
    pthread_mutex_unlock(&guard_lock);
}

int other_blas_enabled(void)
{
    int on;
    pthread_mutex_lock(&guard_lock);
    on = enabled;
    pthread_mutex_unlock(&guard_lock);
    return on;
}

int other_blas_count(void)
{
    return pool_count;
}

const char *other_blas_path(int i)
{
    return i >= 0 && i < pool_count ? pools[i].path : NULL;
}

int other_blas_threads(int i)
{
    return i >= 0 && i < pool_count ? pools[i].get_threads() : -1;
}
