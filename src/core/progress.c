/*
 * progress.c -- a terminal progress bar behind the ar_progress_fn callback.
 *
 * The library never prints; the CLI creates an ar_progress on stderr and passes it to long
 * operations. When disabled (stderr is not a terminal, or CI is set) it only counts, so pipes
 * and CI logs stay clean. Redraws are throttled to 10 a second so the callback stays cheap.
 */
#include "core.h"

#include <stdio.h>
#include <string.h>

struct ar_progress {
    FILE *stream;
    char label[48];
    int enabled;
    int drawn;
    double start, last_draw;
};

ar_progress *ar_progress_create(FILE *stream, const char *label, int enabled) {
    ar_progress *p = ar__calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->stream = stream;
    snprintf(p->label, sizeof p->label, "%s", label ? label : "");
    p->enabled = enabled && stream;
    p->start = ar__now();
    return p;
}

static void human(char *buf, size_t n, double v) {
    if (v >= 1e9)
        snprintf(buf, n, "%.1fG", v / 1e9);
    else if (v >= 1e6)
        snprintf(buf, n, "%.1fM", v / 1e6);
    else if (v >= 1e3)
        snprintf(buf, n, "%.1fk", v / 1e3);
    else
        snprintf(buf, n, "%.0f", v);
}

static void draw(ar_progress *p, int64_t done, int64_t total, double now) {
    double elapsed = now - p->start;
    double rate = elapsed > 0 ? (double)done / elapsed : 0;
    char rbuf[16];
    human(rbuf, sizeof rbuf, rate);
    if (total > 0) {
        double frac = (double)done / (double)total;
        if (frac > 1)
            frac = 1;
        char bar[31];
        int fill = (int)(frac * 30);
        memset(bar, '#', (size_t)fill);
        memset(bar + fill, ' ', (size_t)(30 - fill));
        bar[30] = 0;
        double eta = rate > 0 ? (double)(total - done) / rate : 0;
        if (eta < 0)
            eta = 0;
        fprintf(p->stream, "\r%s [%s] %3d%% %s/s ETA %d:%02d ", p->label, bar, (int)(frac * 100),
                rbuf, (int)eta / 60, (int)eta % 60);
    } else {
        char dbuf[16];
        human(dbuf, sizeof dbuf, (double)done);
        fprintf(p->stream, "\r%s %s done %s/s %d:%02d ", p->label, dbuf, rbuf, (int)elapsed / 60,
                (int)elapsed % 60);
    }
    fflush(p->stream);
    p->drawn = 1;
    p->last_draw = now;
}

int ar_progress_update(void *progress, int64_t done, int64_t total) {
    ar_progress *p = progress;
    if (!p || !p->enabled)
        return 0;
    double now = ar__now();
    if (now - p->last_draw >= 0.1 || (total > 0 && done >= total))
        draw(p, done, total, now);
    return 0;
}

void ar_progress_free(ar_progress *p) {
    if (!p)
        return;
    if (p->enabled && p->drawn) {
        fputc('\n', p->stream);
        fflush(p->stream);
    }
    ar__free(p);
}
