// Fork safety. fork() copies only the calling thread: a lock that another thread held at
// that moment stays held in the child for ever, and the child hangs on its next use of it
// (OpenBLAS's level-3 lock during a multi-threaded GEMM, the engine's own locks). So the
// engine's short sections that take such locks run inside the "fork gate", and fork
// (through pthread_atfork) closes the gate and waits until no section is in progress:
// the child then starts with every one of those locks free. Sections never wait for
// anything but the locks inside them, so fork waits at most for one GEMM per thread.

#include "ckernels.h"

#include <pthread.h>
#include <stdatomic.h>

static pthread_mutex_t gate_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_changed = PTHREAD_COND_INITIALIZER;
static int sections_inside;              // threads inside the gate
static int forking;                      // a fork is waiting or under way
static _Thread_local int depth;          // this thread's nesting: only the outermost counts
static atomic_ulong generation;          // forks since the library was loaded (0 in the first process)
static atomic_int pool_started;          // libdispatch's worker pool has run parallel work
static atomic_int pool_unusable;         // ... and this process is a child forked after that
static pthread_once_t registered = PTHREAD_ONCE_INIT;

static void before_fork(void) {
    pthread_mutex_lock(&gate_mutex);     // held through fork: no section starts meanwhile
    forking = 1;
    while (sections_inside > 0) pthread_cond_wait(&gate_changed, &gate_mutex);
}

static void after_fork_in_parent(void) {
    forking = 0;
    pthread_cond_broadcast(&gate_changed);
    pthread_mutex_unlock(&gate_mutex);
}

static void after_fork_in_child(void) {
    // The only thread left is the one that forked; it holds gate_mutex. Start afresh.
    pthread_mutex_init(&gate_mutex, NULL);
    pthread_cond_init(&gate_changed, NULL);
    sections_inside = 0;
    forking = 0;
    atomic_fetch_add(&generation, 1);
    if (atomic_load(&pool_started)) atomic_store(&pool_unusable, 1);
}

static void register_handlers(void) { pthread_atfork(before_fork, after_fork_in_parent, after_fork_in_child); }

void ck_fork_gate_enter(void) {
    pthread_once(&registered, register_handlers);
    if (depth++ > 0) return;
    pthread_mutex_lock(&gate_mutex);
    while (forking) pthread_cond_wait(&gate_changed, &gate_mutex);
    sections_inside++;
    pthread_mutex_unlock(&gate_mutex);
}

void ck_fork_gate_leave(void) {
    if (--depth > 0) return;
    pthread_mutex_lock(&gate_mutex);
    if (--sections_inside == 0 && forking) pthread_cond_broadcast(&gate_changed);
    pthread_mutex_unlock(&gate_mutex);
}

unsigned long ck_fork_generation(void) {
    pthread_once(&registered, register_handlers);
    return atomic_load(&generation);
}

int ck_thread_pool_usable(void) {
    pthread_once(&registered, register_handlers);
    atomic_store(&pool_started, 1);
    return !atomic_load(&pool_unusable);
}
