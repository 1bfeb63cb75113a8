// One LSTM direction of a batch of one, its recurrence split over two cores.
//
// A batch of one is latency-bound: each step is a matrix-vector product with W_hh
// (4H x H, 1 MiB at H = 256) and the cell math, and a step needs the previous step's
// h. Splitting the *hidden units* in two lets each core keep its half of W_hh in its
// own cache and run the cell math of its own units, so the cores meet once per step
// (to exchange h) instead of once per GEMM call. The second core is one persistent
// helper thread that spins briefly between calls, then sleeps.
//
// Every output is computed by the same kernels in the same order as the unsplit packed
// recurrence, so results are bit-identical to it (and to one thread).

#include "ckernels.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CK_PAUSE() _mm_pause()
#else
#define CK_PAUSE() ((void)0)
#endif

int64_t ck_lstm_split_first(int64_t H) {
    int64_t h0 = (H / 2 + 15) / 16 * 16;   // whole vectors for the first part
    return h0 < H ? h0 : H / 2;
}

/// The gate rows of units [u0, u0 + n) in part order: i, f, g, o, each n rows.
static void gather_part_rows(const float *W, int64_t H, int64_t u0, int64_t n, float *out) {
    for (int q = 0; q < 4; q++) memcpy(out + q * n * H, W + (q * H + u0) * H, (size_t)(n * H) * sizeof(float));
}

int ck_lstm_split_pack(const float *W_hh, int64_t H, float *packed0, float *packed1) {
    int64_t h0 = ck_lstm_split_first(H), h1 = H - h0;
    float *rows = malloc((size_t)(4 * (h0 > h1 ? h0 : h1) * H) * sizeof(float));
    if (!rows) return 0;
    gather_part_rows(W_hh, H, 0, h0, rows);
    ck_gemv_pack(rows, 4 * h0, H, packed0);
    gather_part_rows(W_hh, H, h0, h1, rows);
    ck_gemv_pack(rows, 4 * h1, H, packed1);
    free(rows);
    return 1;
}

/// What both parts of one call share.
struct split_job {
    const float *packed[2];
    int64_t H, first;
    const float *gates;       // (steps, 4H) pre-activations without the recurrence
    int64_t steps;
    float *h[2];              // h double-buffered: step s reads h[s % 2], writes h[1 - s % 2]
    float *c;                 // (H), each part updates its own units
    float *y;
    int64_t y_stride;
    float *scratch[2];        // per part: its gates (4H) and new c (H)
    _Atomic int64_t done[2];  // steps each part has finished
};

/// Waits until the other part has finished `step` steps. Yields now and then, so a
/// helper that lost its core (a busy machine) gets it back instead of being spun against.
static void wait_for(_Atomic int64_t *done, int64_t step) {
    for (unsigned spins = 1; atomic_load_explicit(done, memory_order_acquire) < step; spins++) {
        CK_PAUSE();
        if (spins % 4096 == 0) sched_yield();
    }
}

/// Step s of part p (units [u0, u0 + n)): its gates from the projection, plus W_hh h,
/// through the cell; h goes to the other buffer and to y.
static void run_part_step(struct split_job *job, int p, int64_t s, float *scratch) {
    float *g = scratch, *c_new = scratch + 4 * job->H;
    int64_t H = job->H, u0 = p == 0 ? 0 : job->first, n = p == 0 ? job->first : H - job->first;
    const float *x = job->gates + s * 4 * H;
    for (int q = 0; q < 4; q++) memcpy(g + q * n, x + q * H + u0, (size_t)n * sizeof(float));
    ck_gemv_packed_accumulate(job->packed[p], 4 * n, H, job->h[s % 2], g);
    ck_lstm_cell_forward(g, n, job->c + u0, c_new, job->h[1 - s % 2] + u0, job->y + s * job->y_stride + u0);
    memcpy(job->c + u0, c_new, (size_t)n * sizeof(float));
}

/// Part p over every step, meeting the other part after each.
static void run_part(struct split_job *job, int p, float *scratch) {
    for (int64_t s = 0; s < job->steps; s++) {
        run_part_step(job, p, s, scratch);
        atomic_store_explicit(&job->done[p], s + 1, memory_order_release);
        wait_for(&job->done[1 - p], s + 1);
    }
}

// The helper thread. `job_seq` counts jobs posted; `helper_seq` the last one finished.
static pthread_mutex_t helper_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t helper_wake = PTHREAD_COND_INITIALIZER;
static atomic_int helper_state;        // 0 not started, 1 running, -1 could not start
static atomic_int helper_busy;         // one job at a time; other callers run alone
static _Atomic uint64_t job_seq, helper_seq;
static struct split_job *_Atomic posted_job;

/// How long the idle helper spins for the next job before it sleeps: long enough to
/// catch back-to-back calls (a sequence at a time), short enough not to waste a core.
#define CK_HELPER_SPIN_NS 200000

static int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void *helper_main(void *unused) {
    (void)unused;
    uint64_t seen = 0;
    for (;;) {
        uint64_t s = atomic_load_explicit(&job_seq, memory_order_acquire);
        for (int64_t start = now_ns(), spins = 0; s == seen; spins++) {
            CK_PAUSE();
            if (spins % 256 == 0 && now_ns() - start > CK_HELPER_SPIN_NS) break;
            s = atomic_load_explicit(&job_seq, memory_order_acquire);
        }
        if (s == seen) {
            pthread_mutex_lock(&helper_mutex);
            while ((s = atomic_load_explicit(&job_seq, memory_order_acquire)) == seen)
                pthread_cond_wait(&helper_wake, &helper_mutex);
            pthread_mutex_unlock(&helper_mutex);
        }
        seen = s;
        struct split_job *job = atomic_load_explicit(&posted_job, memory_order_acquire);
        run_part(job, 1, job->scratch[1]);
        atomic_store_explicit(&helper_seq, seen, memory_order_release);
    }
    return NULL;
}

/// A forked child has no helper thread: it starts its own on first use.
static void reset_after_fork(void) {
    atomic_store(&helper_state, 0);
    atomic_store(&helper_busy, 0);
    atomic_store(&job_seq, 0);
    atomic_store(&helper_seq, 0);
}

/// Takes the helper for one job; 0 if it is busy with another caller's or cannot start.
static int take_helper(void) {
    int expected = 0;
    if (!atomic_compare_exchange_strong(&helper_busy, &expected, 1)) return 0;
    if (atomic_load(&helper_state) == 0) {
        pthread_t thread;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        int ok = pthread_create(&thread, &attr, helper_main, NULL) == 0;
        pthread_attr_destroy(&attr);
        if (ok) pthread_atfork(NULL, NULL, reset_after_fork);
        atomic_store(&helper_state, ok ? 1 : -1);
    }
    if (atomic_load(&helper_state) != 1) {
        atomic_store(&helper_busy, 0);
        return 0;
    }
    return 1;
}

/// Both parts on the calling thread, step by step: the same arithmetic, no helper.
static void run_one_thread(struct split_job *job) {
    for (int64_t s = 0; s < job->steps; s++) {
        run_part_step(job, 0, s, job->scratch[0]);
        run_part_step(job, 1, s, job->scratch[0]);
    }
}

int ck_lstm_split_steps(const float *packed0, const float *packed1, int64_t H, const float *gates,
                        int64_t steps, float *h, float *c, float *y, int64_t y_stride, int threads) {
    if (steps <= 0) return 1;
    // The second h buffer, then each part's scratch.
    float *work = malloc((size_t)(11 * H) * sizeof(float));
    if (!work) return 0;
    struct split_job job = {
        .packed = {packed0, packed1}, .H = H, .first = ck_lstm_split_first(H), .gates = gates,
        .steps = steps, .h = {h, work}, .c = c, .y = y, .y_stride = y_stride,
        .scratch = {work + H, work + 6 * H},
    };
    atomic_init(&job.done[0], 0);
    atomic_init(&job.done[1], 0);
    if (threads >= 2 && take_helper()) {
        atomic_store_explicit(&posted_job, &job, memory_order_release);
        pthread_mutex_lock(&helper_mutex);
        uint64_t seq = atomic_fetch_add_explicit(&job_seq, 1, memory_order_acq_rel) + 1;
        pthread_cond_signal(&helper_wake);
        pthread_mutex_unlock(&helper_mutex);
        run_part(&job, 0, job.scratch[0]);
        while (atomic_load_explicit(&helper_seq, memory_order_acquire) != seq) CK_PAUSE();
        atomic_store(&helper_busy, 0);
    } else {
        run_one_thread(&job);
    }
    // The final h is in the buffer the last step wrote.
    if (steps % 2 == 1) memcpy(h, work, (size_t)H * sizeof(float));
    free(work);
    return 1;
}
