// One LSTM direction of a batch of one, its recurrence split over two cores.
//
// A batch of one is latency-bound: each step is a matrix-vector product with W_hh
// (4H x H, 1 MiB at H = 256) and the cell math, and a step needs the previous step's
// h. Splitting the *hidden units* in two lets each part keep its half of W_hh in one
// core's cache and run the cell math of its own units, so the cores meet once per step
// (to exchange h) instead of once per GEMM call.
//
// The work is 2 x steps tasks, (step s, part p) in order, claimed from one counter by the
// caller and by one persistent helper thread; a task starts when both tasks of the step
// before are done. Either thread may run either part, so a helper that has lost its core
// (a busy machine) delays the caller by at most the one task it holds: the caller goes
// on claiming the rest alone. Every task computes the same sums in the same order
// whoever runs it, so results are bit-identical to the unsplit packed recurrence.
//
// The int8 form (dynamic quantization, q8.c) splits the same way: each part holds its
// rows of the int8 W_hh packed for ck_q8_gemm, and each task quantizes the whole of h
// (both parts need all of it; 256 values cost far less than a meeting) and runs its
// rows' product. Every output's integer sum and rescale are those of the unsplit int8
// product, so the results are its bits.

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

/// The gate rows of units [u0, u0 + n) in part order: i, f, g, o, each n rows of `cols`
/// elements of `size` bytes (cols 1: one value per row, as a scale).
static void gather_part_rows(const void *W, int64_t H, int64_t cols, size_t size, int64_t u0, int64_t n, void *out) {
    for (int q = 0; q < 4; q++)
        memcpy((char *)out + (size_t)(q * n * cols) * size, (const char *)W + (size_t)((q * H + u0) * cols) * size,
               (size_t)(n * cols) * size);
}

/// Units [u0, u0 + n) of part p.
static void part_units(int64_t H, int p, int64_t *u0, int64_t *n) {
    int64_t first = ck_lstm_split_first(H);
    *u0 = p == 0 ? 0 : first;
    *n = p == 0 ? first : H - first;
}

int ck_lstm_split_pack(const float *W_hh, int64_t H, float *packed0, float *packed1) {
    int64_t h0 = ck_lstm_split_first(H), h1 = H - h0;
    float *rows = malloc((size_t)(4 * (h0 > h1 ? h0 : h1) * H) * sizeof(float));
    if (!rows) return 0;
    gather_part_rows(W_hh, H, H, sizeof(float), 0, h0, rows);
    ck_gemv_pack(rows, 4 * h0, H, packed0);
    gather_part_rows(W_hh, H, H, sizeof(float), h0, h1, rows);
    ck_gemv_pack(rows, 4 * h1, H, packed1);
    free(rows);
    return 1;
}

int ck_q8_lstm_split_pack(const int8_t *q, const float *scale, int64_t H, const ck_q8_split_part parts[2]) {
    int64_t h0 = ck_lstm_split_first(H), h1 = H - h0;
    int8_t *rows = malloc((size_t)(4 * (h0 > h1 ? h0 : h1) * H));
    if (!rows) return 0;
    for (int p = 0; p < 2; p++) {
        int64_t u0, n;
        part_units(H, p, &u0, &n);
        gather_part_rows(q, H, H, 1, u0, n, rows);
        ck_q8_pack(rows, 4 * n, H, parts[p].packed, parts[p].sums);
        gather_part_rows(scale, H, 1, sizeof(float), u0, n, parts[p].scales);
    }
    free(rows);
    return 1;
}

/// One call's work, shared by the caller and the helper.
struct split_job {
    const float *packed[2];      // float32: each part's rows of W_hh (ck_lstm_split_pack)
    const ck_q8_split_part *q8;  // or int8: the two parts (ck_q8_lstm_split_pack)
    int64_t H;
    const float *gates;          // (steps, 4H) pre-activations without the recurrence
    int64_t steps;
    float *h[2];                 // double-buffered: step s reads h[s % 2], writes h[1 - s % 2]
    float *c;                    // (H); task (s, p) updates part p's units
    float *y;
    int64_t y_stride;
    _Atomic int64_t next_task;   // task k is (step k / 2, part k % 2)
    _Atomic int64_t tasks_done;
};

/// Task (s, p): part p's gates from the projection, plus its W_hh rows times h, through
/// the cell; its h goes to the other buffer and to y. `scratch`: SCRATCH_FLOATS(H) of
/// the thread.
static void run_task(struct split_job *job, int64_t s, int p, float *scratch) {
    float *g = scratch;
    int64_t H = job->H, u0, n;
    part_units(H, p, &u0, &n);
    const float *x = job->gates + s * 4 * H, *h = job->h[s % 2];
    for (int q = 0; q < 4; q++) memcpy(g + q * n, x + q * H + u0, (size_t)n * sizeof(float));
    if (job->q8) {
        uint8_t *hq = (uint8_t *)(scratch + 4 * H);
        float h_scale;
        int32_t h_zero;
        ck_q8_quantize_inputs(h, 1, H, H, hq, &h_scale, &h_zero);
        const ck_q8_split_part *part = &job->q8[p];
        ck_q8_gemm(hq, &h_scale, &h_zero, 1, part->packed, part->scales, part->sums, 4 * n, H, g, 4 * n, NULL, 1);
    } else {
        ck_gemv_packed_accumulate(job->packed[p], 4 * n, H, h, g);
    }
    ck_lstm_cell_infer(g, n, job->c + u0, job->h[1 - s % 2] + u0, job->y + s * job->y_stride + u0);
}

/// Claims and runs tasks until none is left. A task of step s waits for both tasks of
/// step s - 1 (yielding now and then, in case the other thread lost its core).
static void run_tasks(struct split_job *job, float *scratch) {
    for (;;) {
        int64_t k = atomic_fetch_add_explicit(&job->next_task, 1, memory_order_relaxed);
        if (k >= 2 * job->steps) return;
        int64_t s = k / 2;
        for (unsigned spins = 1; atomic_load_explicit(&job->tasks_done, memory_order_acquire) < 2 * s; spins++) {
            CK_PAUSE();
            if (spins % 1024 == 0) sched_yield();
        }
        run_task(job, s, (int)(k % 2), scratch);
        atomic_fetch_add_explicit(&job->tasks_done, 1, memory_order_acq_rel);
    }
}

// The helper thread and the one job it may hold. `job_state` says who owns the posted
// job: the caller may take it back while it is still only POSTED, so it never waits for
// a helper that has not started on it.
enum { JOB_NONE, JOB_POSTED, JOB_TAKEN, JOB_DONE };
static pthread_mutex_t helper_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t helper_wake = PTHREAD_COND_INITIALIZER;
static atomic_int helper_state;        // 0 not started, 1 running, -1 could not start
static atomic_int helper_busy;         // one caller at a time; other callers run alone
static atomic_int job_state;
static struct split_job *_Atomic posted_job;
static float *helper_scratch;          // the helper's SCRATCH_FLOATS(H), grown by callers as needed
static int64_t helper_scratch_h;

/// How long the idle helper spins for the next job before it sleeps: long enough to
/// catch back-to-back calls (a sequence at a time), short enough not to waste a core.
#define CK_HELPER_SPIN_NS 200000

/// A thread's scratch for a task: its part's 4n gates, then (int8) h quantized, H bytes
/// padded to whole words (at most H + 3 bytes: another H floats hold them).
#define SCRATCH_FLOATS(H) (5 * (H) + 1)

static int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void *helper_main(void *unused) {
    (void)unused;
    for (;;) {
        int64_t start = now_ns();
        for (int64_t spins = 0; atomic_load_explicit(&job_state, memory_order_acquire) != JOB_POSTED; spins++) {
            CK_PAUSE();
            if (spins % 256 == 0 && now_ns() - start > CK_HELPER_SPIN_NS) {
                pthread_mutex_lock(&helper_mutex);
                while (atomic_load_explicit(&job_state, memory_order_acquire) != JOB_POSTED)
                    pthread_cond_wait(&helper_wake, &helper_mutex);
                pthread_mutex_unlock(&helper_mutex);
            }
        }
        int expected = JOB_POSTED;
        if (!atomic_compare_exchange_strong(&job_state, &expected, JOB_TAKEN)) continue;   // taken back
        run_tasks(atomic_load_explicit(&posted_job, memory_order_acquire), helper_scratch);
        atomic_store_explicit(&job_state, JOB_DONE, memory_order_release);
    }
    return NULL;
}

/// A forked child has no helper thread: it starts its own on first use. helper_mutex may
/// have been held at the fork (by the helper, or a caller posting a job).
static void reset_after_fork(void) {
    pthread_mutex_init(&helper_mutex, NULL);
    pthread_cond_init(&helper_wake, NULL);
    atomic_store(&helper_state, 0);
    atomic_store(&helper_busy, 0);
    atomic_store(&job_state, JOB_NONE);
}

/// Takes the helper for one call (starting it on first use) with scratch for H units;
/// 0 if another caller holds it, or it cannot start or get memory.
static int take_helper_gated(int64_t H) {
    int expected = 0;
    if (!atomic_compare_exchange_strong(&helper_busy, &expected, 1)) return 0;
    if (helper_scratch_h < H) {   // the helper is idle: no job is posted
        float *grown = realloc(helper_scratch, (size_t)SCRATCH_FLOATS(H) * sizeof(float));
        if (grown) {
            helper_scratch = grown;
            helper_scratch_h = H;
        }
    }
    if (helper_scratch_h >= H && atomic_load(&helper_state) == 0) {
        pthread_t thread;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        int ok = pthread_create(&thread, &attr, helper_main, NULL) == 0;
        pthread_attr_destroy(&attr);
        if (ok) pthread_atfork(NULL, NULL, reset_after_fork);
        atomic_store(&helper_state, ok ? 1 : -1);
    }
    if (helper_scratch_h < H || atomic_load(&helper_state) != 1) {
        atomic_store(&helper_busy, 0);
        return 0;
    }
    return 1;
}

/// take_helper_gated inside the fork gate: a fork never copies a half-grown scratch
/// buffer or a helper being started.
static int take_helper(int64_t H) {
    ck_fork_gate_enter();
    int taken = take_helper_gated(H);
    ck_fork_gate_leave();
    return taken;
}

/// ck_lstm_split_steps or ck_q8_lstm_split_steps: `job` holds the weights.
static int split_steps(struct split_job job, int64_t H, const float *gates, int64_t steps, float *h, float *c,
                       float *y, int64_t y_stride, int threads) {
    if (steps <= 0) return 1;
    float *work = malloc((size_t)(H + SCRATCH_FLOATS(H)) * sizeof(float));   // the second h buffer, then scratch
    if (!work) return 0;
    job.H = H;
    job.gates = gates;
    job.steps = steps;
    job.h[0] = h;
    job.h[1] = work;
    job.c = c;
    job.y = y;
    job.y_stride = y_stride;
    atomic_init(&job.next_task, 0);
    atomic_init(&job.tasks_done, 0);
    if (threads >= 2 && take_helper(H)) {
        atomic_store_explicit(&posted_job, &job, memory_order_release);
        pthread_mutex_lock(&helper_mutex);
        atomic_store_explicit(&job_state, JOB_POSTED, memory_order_release);
        pthread_cond_signal(&helper_wake);
        pthread_mutex_unlock(&helper_mutex);
        run_tasks(&job, work + H);
        // Take the job back if the helper never started on it; else wait until it is out.
        int expected = JOB_POSTED;
        if (!atomic_compare_exchange_strong(&job_state, &expected, JOB_NONE)) {
            while (atomic_load_explicit(&job_state, memory_order_acquire) != JOB_DONE) CK_PAUSE();
            atomic_store(&job_state, JOB_NONE);
        }
        atomic_store(&helper_busy, 0);
    } else {
        run_tasks(&job, work + H);
    }
    // The final h is in the buffer the last step wrote.
    if (steps % 2 == 1) memcpy(h, work, (size_t)H * sizeof(float));
    free(work);
    return 1;
}

int ck_lstm_split_steps(const float *packed0, const float *packed1, int64_t H, const float *gates,
                        int64_t steps, float *h, float *c, float *y, int64_t y_stride, int threads) {
    return split_steps((struct split_job){.packed = {packed0, packed1}}, H, gates, steps, h, c, y, y_stride, threads);
}

int ck_q8_lstm_split_steps(const ck_q8_split_part parts[2], int64_t H, const float *gates, int64_t steps, float *h,
                           float *c, float *y, int64_t y_stride, int threads) {
    return split_steps((struct split_job){.q8 = parts}, H, gates, steps, h, c, y, y_stride, threads);
}
