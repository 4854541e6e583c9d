/*
 * report.c -- the ledger's HTML report: one self-contained file (inline CSS, no scripts, no
 * network) whose charts are SVG drawn here.
 *
 * Charts (each an <svg class="chart" data-chart="..."> holding at least one non-empty <path>):
 *   metric-*   each metric (name, scope, split) over runs: x = the run's start time, y = its
 *              value (latest step); a line through the runs in time order and the best-so-far
 *              staircase.
 *   lineage    the family tree of the champion: from its oldest ancestor down through every
 *              descendant (at most MAX_TREE runs), x = generation, y = leaf order; the path to
 *              the champion is highlighted.
 *   decisions  the decision timeline: one lane per action, a marker per decision, with the
 *              rationale in a table below (and as the marker's tooltip).
 *   registry   each model version's stage over time: one lane per version, a coloured segment
 *              per stage, from each change to the next (or to now).
 *   overlay    (when the options name metrics) those metrics of one scope and split on one
 *              time axis, a line each, e.g. the demo's champion, baseline and oracle reward.
 * The file is written to a temporary name in the same directory and renamed into place.
 */
#define _POSIX_C_SOURCE 200809L
#include "knowledge/ledger_internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#define W 760.0
#define H 260.0
#define ML 64.0
#define MR 20.0
#define MT 16.0
#define MB 34.0
#define MAX_TREE 400

ar_report_options ar_report_options_default(void) {
    ar_report_options o;
    memset(&o, 0, sizeof o);
    o.title = "agentrec ledger report";
    o.max_metrics = 12;
    return o;
}

const char *ar_report_options_check(const ar_report_options *o) {
    if (!o)
        return "options are NULL";
    if (o->scope != AR_SCOPE_INNER && o->scope != AR_SCOPE_OUTER)
        return "scope must be inner or outer";
    if (o->max_metrics < 1 || o->max_metrics > 1000)
        return "max_metrics must be in [1, 1000]";
    if (o->n_overlay < 0 || o->n_overlay > 8 || (o->n_overlay && !o->overlay))
        return "overlay must list 0 to 8 metric names";
    for (int i = 0; i < o->n_overlay; i++)
        if (!o->overlay[i] || !*o->overlay[i])
            return "overlay metric names must be non-empty";
    return NULL;
}

static void esc(FILE *f, const char *s) {
    for (; s && *s; s++) {
        switch (*s) {
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '&':
            fputs("&amp;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        case '\'':
            fputs("&#39;", f);
            break;
        default:
            fputc(*s, f);
        }
    }
}

static void fmt_time(double t, char *buf, size_t n) {
    time_t tt = (time_t)t;
    struct tm tm;
    if (isfinite(t) && gmtime_r(&tt, &tm))
        strftime(buf, n, "%Y-%m-%d %H:%M:%S", &tm);
    else
        snprintf(buf, n, "-");
}

typedef struct scale {
    double x0, x1, y0, y1;
} scale;

static double sx(const scale *s, double x) {
    return ML + (s->x1 > s->x0 ? (x - s->x0) / (s->x1 - s->x0) : 0.5) * (W - ML - MR);
}
static double sy(const scale *s, double y) {
    return H - MB - (s->y1 > s->y0 ? (y - s->y0) / (s->y1 - s->y0) : 0.5) * (H - MT - MB);
}

/* Frame: axes as one path, and the range labels. */
static void frame(FILE *f, const scale *s, int time_x, const char *ylabel) {
    fprintf(f, "<path class=\"axis\" d=\"M%.1f %.1fV%.1fH%.1f\" fill=\"none\" stroke=\"#555\"/>\n",
            ML, MT, H - MB, W - MR);
    char a[32], b[32];
    if (time_x) {
        fmt_time(s->x0, a, sizeof a);
        fmt_time(s->x1, b, sizeof b);
    } else {
        snprintf(a, sizeof a, "%g", s->x0);
        snprintf(b, sizeof b, "%g", s->x1);
    }
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" class=\"lab\">%s</text>\n", ML, H - 12, a);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" class=\"lab\" text-anchor=\"end\">%s</text>\n", W - MR,
            H - 12, b);
    if (ylabel) {
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" class=\"lab\" text-anchor=\"end\">%.4g</text>\n",
                ML - 4, MT + 8, s->y1);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" class=\"lab\" text-anchor=\"end\">%.4g</text>\n",
                ML - 4, H - MB, s->y0);
    }
}

static void svg_open(FILE *f, const char *kind, const char *label, double height) {
    fprintf(f,
            "<svg class=\"chart\" data-chart=\"%s\" xmlns=\"http://www.w3.org/2000/svg\" "
            "width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" role=\"img\" "
            "aria-label=\"",
            kind, W, height, W, height);
    esc(f, label);
    fputs("\">\n", f);
}

/* -- Metric charts --------------------------------------------------------------------------- */

typedef struct pt {
    double t, v;
    int64_t run;
} pt;

static int pt_cmp(const void *a, const void *b) {
    const pt *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    return x->run < y->run ? -1 : x->run > y->run;
}

static int run_cmp(const void *a, const void *b) {
    const ar_run *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

static const ar_run *find_run(const ar_run_list *runs, int64_t id) {
    ar_run key;
    key.id = id;
    return bsearch(&key, runs->v, runs->n, sizeof(ar_run), run_cmp);
}

static int same_key(const ar_metric_row *a, const ar_metric_row *b) {
    return strcmp(a->name, b->name) == 0 && a->scope == b->scope && strcmp(a->split, b->split) == 0;
}

/* The final value of each run for this key (the last row of each run's group) into buf, in
 * time order; returns how many. */
static size_t collect(const ar_metric_list *ml, const ar_metric_row *key, const ar_run_list *runs,
                      pt *buf) {
    size_t n = 0;
    for (size_t k = 0; k < ml->n; k++) {
        if (!same_key(&ml->v[k], key))
            continue;
        int last =
            k + 1 == ml->n || ml->v[k + 1].run != ml->v[k].run || !same_key(&ml->v[k + 1], key);
        if (!last)
            continue;
        const ar_run *r = find_run(runs, ml->v[k].run);
        buf[n].t = r ? r->started : ml->v[k].at;
        buf[n].v = ml->v[k].value;
        buf[n].run = ml->v[k].run;
        n++;
    }
    qsort(buf, n, sizeof *buf, pt_cmp);
    return n;
}

/* A line through the points in time order (a single point is a short horizontal tick). */
static void series_path(FILE *f, const scale *s, const pt *buf, size_t n, const char *colour,
                        double width) {
    fprintf(f, "<path class=\"series\" fill=\"none\" stroke=\"%s\" stroke-width=\"%g\" d=\"",
            colour, width);
    for (size_t k = 0; k < n; k++)
        fprintf(f, "%s%.1f %.1f", k ? "L" : "M", sx(s, buf[k].t), sy(s, buf[k].v));
    if (n == 1)
        fprintf(f, "h6");
    fputs("\"/>\n", f);
}

static void metric_chart(FILE *f, const ar_metric_list *ml, const ar_metric_row *key,
                         const ar_run_list *runs, int minimize, int index, pt *buf) {
    size_t n = collect(ml, key, runs, buf);
    scale s = {buf[0].t, buf[n - 1].t, buf[0].v, buf[0].v};
    for (size_t k = 0; k < n; k++) {
        s.y0 = fmin(s.y0, buf[k].v);
        s.y1 = fmax(s.y1, buf[k].v);
    }
    char label[300];
    snprintf(label, sizeof label, "%s (%s%s%s) over %zu runs", key->name, ar_scope_name(key->scope),
             key->split[0] ? ", " : "", key->split, n);
    fputs("<h3>", f);
    esc(f, label);
    fputs("</h3>\n", f);
    char kind[32];
    snprintf(kind, sizeof kind, "metric-%d", index);
    svg_open(f, kind, label, H);
    frame(f, &s, 1, "y");
    series_path(f, &s, buf, n, "#1f77b4", 1.5);
    /* best so far */
    fputs("<path class=\"best\" fill=\"none\" stroke=\"#2ca02c\" stroke-dasharray=\"4 3\" d=\"", f);
    double best = buf[0].v;
    for (size_t k = 0; k < n; k++) {
        double v = buf[k].v;
        if (minimize ? v < best : v > best)
            best = v;
        if (k == 0)
            fprintf(f, "M%.1f %.1f", sx(&s, buf[k].t), sy(&s, best));
        else
            fprintf(f, "H%.1fV%.1f", sx(&s, buf[k].t), sy(&s, best));
    }
    if (n == 1)
        fprintf(f, "h6");
    fputs("\"/>\n", f);
    for (size_t k = 0; k < n; k++)
        fprintf(f,
                "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"#1f77b4\"><title>run %lld: "
                "%.6g</title></circle>\n",
                sx(&s, buf[k].t), sy(&s, buf[k].v), (long long)buf[k].run, buf[k].v);
    fputs("</svg>\n", f);
}

/* The overlay: several metrics of one scope (and split) on one time axis, each a line through
 * its runs in time order -- e.g. the demo's champion, baseline and oracle outer reward. */
static void overlay_chart(FILE *f, const ar_metric_list *ml, const ar_run_list *runs,
                          const ar_report_options *o, pt *buf) {
    static const char *const colour[] = {"#1f77b4", "#7f7f7f", "#2ca02c", "#d62728",
                                         "#9467bd", "#ff7f0e", "#8c564b", "#e377c2"};
    const ar_metric_row *keys[8] = {0};
    int nk = o->n_overlay < 8 ? o->n_overlay : 8, found = 0;
    scale s = {INFINITY, -INFINITY, INFINITY, -INFINITY};
    for (int i = 0; i < nk; i++) {
        for (size_t k = 0; k < ml->n && !keys[i]; k++)
            if (strcmp(ml->v[k].name, o->overlay[i]) == 0 && ml->v[k].scope == o->scope &&
                (!o->split || strcmp(ml->v[k].split, o->split) == 0))
                keys[i] = &ml->v[k];
        size_t n = keys[i] ? collect(ml, keys[i], runs, buf) : 0;
        for (size_t k = 0; k < n; k++) {
            s.x0 = fmin(s.x0, buf[k].t);
            s.x1 = fmax(s.x1, buf[k].t);
            s.y0 = fmin(s.y0, buf[k].v);
            s.y1 = fmax(s.y1, buf[k].v);
        }
        found += n > 0;
    }
    fputs("<h2>", f);
    esc(f, o->overlay_title ? o->overlay_title : "Metrics over time");
    fputs("</h2>\n", f);
    if (!found) {
        fputs("<p>None of these metrics were logged.</p>\n", f);
        return;
    }
    svg_open(f, "overlay", o->overlay_title ? o->overlay_title : "metrics over time", H);
    frame(f, &s, 1, "y");
    for (int i = 0; i < nk; i++) {
        size_t n = keys[i] ? collect(ml, keys[i], runs, buf) : 0;
        if (!n)
            continue;
        series_path(f, &s, buf, n, colour[i], 2);
    }
    fputs("</svg>\n<p class=\"legend\">", f);
    for (int i = 0; i < nk; i++) {
        fprintf(f, "<span style=\"border-left:12px solid %s\">", colour[i]);
        esc(f, o->overlay[i]);
        fputs(keys[i] ? "</span>" : " (not logged)</span>", f);
    }
    fputs("</p>\n", f);
}

/* -- Lineage tree ------------------------------------------------------------------------------ */

typedef struct node {
    const ar_run *run;
    int depth;
    double y;
    int on_path;
} node;

/* Assigns leaf order y by depth-first traversal; children are runs whose parent is this one. */
static double layout(node *nodes, size_t n, size_t at, double *next_leaf) {
    double sum = 0;
    int kids = 0;
    for (size_t k = 0; k < n; k++)
        if (nodes[k].run->parent == nodes[at].run->id && k != at) {
            sum += layout(nodes, n, k, next_leaf);
            kids++;
        }
    nodes[at].y = kids ? sum / kids : (*next_leaf)++;
    return nodes[at].y;
}

static ar_status lineage_chart(ar_ledger *l, FILE *f, int64_t champion, const char *why) {
    ar_run_list *anc = NULL, *tree = NULL;
    ar_status s = ar_ledger_lineage(l, champion, AR_LINEAGE_ANCESTORS, &anc);
    if (s)
        return s;
    int64_t root = anc->v[0].id;
    s = ar_ledger_lineage(l, root, AR_LINEAGE_DESCENDANTS, &tree);
    if (s) {
        ar_run_list_free(anc);
        return s;
    }
    size_t n = tree->n < MAX_TREE ? tree->n : MAX_TREE;
    node *nodes = ar__calloc(n, sizeof *nodes);
    if (!nodes) {
        ar_run_list_free(anc);
        ar_run_list_free(tree);
        return ar__ledger_fail(l, AR_ENOMEM, "out of memory");
    }
    int max_depth = 0;
    for (size_t k = 0; k < n; k++) {
        nodes[k].run = &tree->v[k];
        nodes[k].depth = tree->v[k].depth;
        max_depth = nodes[k].depth > max_depth ? nodes[k].depth : max_depth;
        for (size_t a = 0; a < anc->n; a++)
            nodes[k].on_path |= anc->v[a].id == tree->v[k].id;
    }
    double leaves = 0;
    layout(nodes, n, 0, &leaves);
    double height = fmax(120, fmin(900, 28 * leaves + 40));
    fprintf(f, "<p>Champion: run %lld (%s); %zu runs in its family tree%s.</p>\n",
            (long long)champion, why, tree->n, tree->n > n ? " (first 400 drawn)" : "");
    svg_open(f, "lineage", "lineage tree of the champion", height);
    double dx = max_depth ? (W - 2 * ML) / max_depth : 0;
    double dy = leaves > 1 ? (height - 40) / (leaves - 1) : 0;
#define NX(k) (ML + nodes[k].depth * dx)
#define NY(k) (20 + nodes[k].y * dy)
    for (size_t k = 0; k < n; k++) {
        for (size_t p = 0; p < n; p++) {
            if (nodes[p].run->id != nodes[k].run->parent)
                continue;
            int hot = nodes[k].on_path && nodes[p].on_path;
            fprintf(f,
                    "<path class=\"edge\" fill=\"none\" stroke=\"%s\" stroke-width=\"%s\" "
                    "d=\"M%.1f %.1fC%.1f %.1f %.1f %.1f %.1f %.1f\"/>\n",
                    hot ? "#d62728" : "#999", hot ? "2.5" : "1", NX(p), NY(p), (NX(p) + NX(k)) / 2,
                    NY(p), (NX(p) + NX(k)) / 2, NY(k), NX(k), NY(k));
        }
    }
    /* A node is a small diamond path, so even a lone champion draws a path. */
    for (size_t k = 0; k < n; k++) {
        const ar_run *r = nodes[k].run;
        int champ = r->id == champion;
        fprintf(f,
                "<path class=\"node\" d=\"M%.1f %.1fl6 6l-6 6l-6 -6z\" fill=\"%s\" stroke=\"#333\">"
                "<title>run %lld (%s, %s)</title></path>\n",
                NX(k), NY(k) - 6,
                champ              ? "#d62728"
                : nodes[k].on_path ? "#ff9896"
                                   : "#c7c7c7",
                (long long)r->id, r->agent, ar_run_status_name(r->status));
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" class=\"lab\">%lld</text>\n", NX(k) + 8, NY(k) + 4,
                (long long)r->id);
    }
#undef NX
#undef NY
    fputs("</svg>\n", f);
    ar__free(nodes);
    ar_run_list_free(anc);
    ar_run_list_free(tree);
    return AR_OK;
}

/* -- Decisions --------------------------------------------------------------------------------- */

static const char *action_color[] = {"#2ca02c", "#d62728", "#9467bd", "#1f77b4", "#7f7f7f"};
static const char *stage_color[] = {"#c7c7c7", "#aec7e8", "#ffbb78", "#2ca02c", "#8c564b"};

static void decision_chart(FILE *f, const ar_decision_list *dl) {
    scale s = {dl->v[0].at, dl->v[dl->n - 1].at, 0, 4};
    svg_open(f, "decisions", "decision timeline", H);
    frame(f, &s, 1, NULL);
    for (int a = 0; a <= AR_ACTION_HOLD; a++)
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" class=\"lab\" text-anchor=\"end\">%s</text>\n",
                ML - 4, sy(&s, a) + 4, ar_action_name((ar_action)a));
    for (size_t k = 0; k < dl->n; k++) {
        const ar_decision *d = &dl->v[k];
        double x = sx(&s, d->at), y = sy(&s, d->action);
        if (dl->n == 1)
            x = ML + 10;
        fprintf(f, "<path class=\"mark\" d=\"M%.1f %.1fl5 5l-5 5l-5 -5z\" fill=\"%s\"><title>", x,
                y - 5, action_color[d->action]);
        fprintf(f, "#%lld %s run %lld by %s: ", (long long)d->id, ar_action_name(d->action),
                (long long)d->run, ar_decider_name(d->decider));
        esc(f, d->rationale);
        fputs("</title></path>\n", f);
    }
    fputs("</svg>\n<table><tr><th>#</th><th>time (UTC)</th><th>run</th><th>action</th>"
          "<th>decided by</th><th>evidence</th><th>rationale</th></tr>\n",
          f);
    for (size_t k = 0; k < dl->n; k++) {
        const ar_decision *d = &dl->v[k];
        char t[32];
        fmt_time(d->at, t, sizeof t);
        fprintf(f, "<tr><td>%lld</td><td>%s</td><td>%lld</td><td>%s</td><td>%s ", (long long)d->id,
                t, (long long)d->run, ar_action_name(d->action), ar_decider_name(d->decider));
        esc(f, d->decided_by);
        fputs("</td><td>", f);
        for (size_t e = 0; e < d->n_evidence; e++)
            fprintf(f, "%s%lld", e ? ", " : "metric ", (long long)d->evidence[e]);
        fputs("</td><td>", f);
        esc(f, d->rationale);
        fputs("</td></tr>\n", f);
    }
    fputs("</table>\n", f);
}

/* -- Registry ---------------------------------------------------------------------------------- */

static void registry_chart(FILE *f, const ar_stage_list *sl, const ar_model_list *ml) {
    double now = ar__wall_now();
    scale s = {sl->v[0].at, now, 0, 1};
    double lane = 26, height = fmax(120, MT + MB + lane * (double)ml->n);
    svg_open(f, "registry", "registry stage history", height);
    fprintf(f, "<path class=\"axis\" d=\"M%.1f %.1fV%.1fH%.1f\" fill=\"none\" stroke=\"#555\"/>\n",
            ML + 60, MT, height - MB, W - MR);
    char a[32], b[32];
    fmt_time(s.x0, a, sizeof a);
    fmt_time(s.x1, b, sizeof b);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" class=\"lab\">%s</text>\n", ML + 60, height - 12, a);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" class=\"lab\" text-anchor=\"end\">%s</text>\n", W - MR,
            height - 12, b);
    double x0 = ML + 60, x1 = W - MR;
    for (size_t m = 0; m < ml->n; m++) {
        double y = MT + lane * (double)m + 4;
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" class=\"lab\" text-anchor=\"end\">", x0 - 4,
                y + 13);
        esc(f, ml->v[m].name);
        fprintf(f, " v%d</text>\n", (int)ml->v[m].version);
        for (size_t k = 0; k < sl->n; k++) {
            const ar_stage_change *c = &sl->v[k];
            if (c->version != ml->v[m].version || strcmp(c->name, ml->v[m].name) != 0)
                continue;
            double end = now;
            for (size_t j = k + 1; j < sl->n; j++)
                if (sl->v[j].version == c->version && strcmp(sl->v[j].name, c->name) == 0) {
                    end = sl->v[j].at;
                    break;
                }
            double xa = x0 + (s.x1 > s.x0 ? (c->at - s.x0) / (s.x1 - s.x0) : 0) * (x1 - x0);
            double xb = x0 + (s.x1 > s.x0 ? (end - s.x0) / (s.x1 - s.x0) : 1) * (x1 - x0);
            if (xb - xa < 3)
                xb = xa + 3;
            fprintf(f,
                    "<path class=\"stage\" d=\"M%.1f %.1fH%.1fV%.1fH%.1fz\" fill=\"%s\" "
                    "stroke=\"#fff\"><title>%s: ",
                    xa, y, xb, y + 18, xa, stage_color[c->stage], ar_stage_name(c->stage));
            esc(f, c->reason);
            fputs("</title></path>\n", f);
        }
    }
    fputs("</svg>\n<p class=\"legend\">", f);
    for (int k = 0; k <= AR_STAGE_ARCHIVED; k++)
        fprintf(f, "<span style=\"background:%s\">%s</span> ", stage_color[k],
                ar_stage_name((ar_stage)k));
    fputs("</p>\n", f);
}

/* -- The page ---------------------------------------------------------------------------------- */

/* The direction of "best so far": the option for the champion metric, and for the others a
 * guess from the name (losses, errors and latencies go down). */
static int lower_is_better(const ar_report_options *o, const char *name) {
    if (o->metric && strcmp(o->metric, name) == 0)
        return o->minimize;
    static const char *down[] = {"loss", "error", "rmse", "mae", "latency", "regret"};
    for (size_t k = 0; k < sizeof down / sizeof down[0]; k++)
        if (strstr(name, down[k]))
            return 1;
    return o->minimize;
}

static ar_status write_report(ar_ledger *l, FILE *f, const ar_report_options *o) {
    ar_run_list *runs = NULL;
    ar_metric_list *ml = NULL;
    ar_decision_list *dl = NULL;
    ar_model_list *models = NULL;
    ar_stage_list *sl = NULL;
    pt *buf = NULL;
    ar_run_query all = ar_run_query_default();
    ar_status s;
    if ((s = ar_ledger_runs(l, &all, &runs)) || (s = ar_ledger_metrics(l, 0, NULL, &ml)) ||
        (s = ar_ledger_decisions(l, 0, 0, &dl)) || (s = ar_ledger_models(l, NULL, &models)) ||
        (s = ar_ledger_stage_history(l, NULL, &sl)))
        goto done;
    qsort(runs->v, runs->n, sizeof(ar_run), run_cmp);
    if (!(buf = ar__alloc_array(ml->n ? ml->n : 1, sizeof *buf))) {
        s = ar__ledger_fail(l, AR_ENOMEM, "out of memory");
        goto done;
    }
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>", f);
    esc(f, o->title);
    fputs("</title>\n<style>\nbody{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;"
          "max-width:1000px}\nh1{font-size:22px}h2{margin-top:32px;border-bottom:1px solid #ddd}"
          "\nh3{font-size:15px;margin:16px 0 4px}\n.lab{font-size:11px;fill:#444}\n"
          "svg.chart{background:#fcfcfc;border:1px solid #eee}\ntable{border-collapse:collapse;"
          "font-size:12px;margin-top:8px}\ntd,th{border:1px solid #ddd;padding:2px 6px;"
          "text-align:left;vertical-align:top}\n.legend span{padding:1px 6px;margin-right:4px}\n"
          "</style></head><body>\n<h1>",
          f);
    esc(f, o->title);
    char t[32];
    fmt_time(ar__wall_now(), t, sizeof t);
    fprintf(f,
            "</h1>\n<p>Generated %s UTC from a %s ledger (schema %d): %zu runs, %zu metric "
            "points, %zu decisions, %zu model versions.</p>\n",
            t, ar_ledger_backend(l), ar_ledger_schema_version(l), runs->n, ml->n, dl->n, models->n);

    if (o->n_overlay)
        overlay_chart(f, ml, runs, o, buf);

    /* Metrics */
    fputs("<h2>Metrics over runs</h2>\n", f);
    int charts = 0;
    const ar_metric_row *champ_key = NULL;
    for (size_t k = 0; k < ml->n && charts < o->max_metrics; k++) {
        int seen = 0;
        for (size_t j = 0; j < k && !seen; j++)
            seen = same_key(&ml->v[j], &ml->v[k]);
        if (seen)
            continue;
        metric_chart(f, ml, &ml->v[k], runs, lower_is_better(o, ml->v[k].name), charts++, buf);
        if (!champ_key && (!o->metric || strcmp(o->metric, ml->v[k].name) == 0) &&
            (!o->metric || ml->v[k].scope == o->scope) &&
            (!o->split || strcmp(o->split, ml->v[k].split) == 0))
            champ_key = &ml->v[k];
    }
    if (!charts)
        fputs("<p>No metrics logged.</p>\n", f);

    /* Champion and lineage */
    fputs("<h2>Lineage of the champion</h2>\n", f);
    int64_t champion = 0;
    char why[300] = "";
    for (size_t k = 0; k < models->n; k++)
        if (models->v[k].stage == AR_STAGE_PRODUCTION) {
            champion = models->v[k].run;
            snprintf(why, sizeof why, "in production as %s v%d", models->v[k].name,
                     (int)models->v[k].version);
        }
    if (!champion && champ_key) {
        ar_run_query qy = ar_run_query_default();
        qy.metric = champ_key->name;
        qy.scope = champ_key->scope;
        qy.split = champ_key->split;
        qy.minimize = o->minimize;
        qy.limit = 1;
        ar_run_list *best;
        if ((s = ar_ledger_runs(l, &qy, &best)) != AR_OK)
            goto done;
        if (best->n) {
            champion = best->v[0].id;
            snprintf(why, sizeof why, "best %s", champ_key->name);
        }
        ar_run_list_free(best);
    }
    if (!champion && runs->n) {
        champion = runs->v[runs->n - 1].id;
        snprintf(why, sizeof why, "the newest run");
    }
    if (champion) {
        if ((s = lineage_chart(l, f, champion, why)) != AR_OK)
            goto done;
    } else {
        fputs("<p>No runs.</p>\n", f);
    }

    fputs("<h2>Decisions</h2>\n", f);
    if (dl->n)
        decision_chart(f, dl);
    else
        fputs("<p>No decisions recorded.</p>\n", f);

    fputs("<h2>Model registry</h2>\n", f);
    if (sl->n && models->n)
        registry_chart(f, sl, models);
    else
        fputs("<p>No registered models.</p>\n", f);
    fputs("</body></html>\n", f);
done:
    ar__free(buf);
    ar_run_list_free(runs);
    ar_metric_list_free(ml);
    ar_decision_list_free(dl);
    ar_model_list_free(models);
    ar_stage_list_free(sl);
    return s;
}

ar_status ar_ledger_report(ar_ledger *l, const char *path, const ar_report_options *opt) {
    ar_report_options o = opt ? *opt : ar_report_options_default();
    const char *bad = ar_report_options_check(&o);
    if (bad)
        return ar__ledger_fail(l, AR_EINVAL, "report options: %s", bad);
    if (!o.title)
        o.title = "agentrec ledger report";
    if (!path || !*path)
        return ar__ledger_fail(l, AR_EINVAL, "report path is empty");
    size_t n = strlen(path) + 16;
    char *tmp = ar__malloc(n);
    if (!tmp)
        return ar__ledger_fail(l, AR_ENOMEM, "out of memory");
    snprintf(tmp, n, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        ar_status s = ar__ledger_fail(l, AR_EIO, "%s: %s", path, strerror(errno));
        ar__free(tmp);
        return s;
    }
    FILE *f = fchmod(fd, 0644) == 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        close(fd);
        unlink(tmp);
        ar__free(tmp);
        return ar__ledger_fail(l, AR_EIO, "%s: %s", path, strerror(errno));
    }
    ar_status s = write_report(l, f, &o);
    int bad_write = fflush(f) != 0 || ferror(f) || fsync(fileno(f)) != 0;
    int saved = errno;
    if (fclose(f) != 0)
        bad_write = 1;
    if (!s && bad_write)
        s = ar__ledger_fail(l, AR_EIO, "%s: write failed: %s", path, strerror(saved));
    if (!s && rename(tmp, path) != 0)
        s = ar__ledger_fail(l, AR_EIO, "%s: %s", path, strerror(errno));
    if (s)
        unlink(tmp);
    ar__free(tmp);
    return s;
}
