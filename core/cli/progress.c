#include "progress.h"

#include <stdio.h>

void ferry_cli_format_duration(double s, char *out, size_t n)
{
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(out, n, "%ldh%02ldm", t / 3600, t / 60 % 60);
    else
        snprintf(out, n, "%ldm%02lds", t / 60, t % 60);
}

void ferry_cli_progress(const ferry_progress *p, void *user)
{
    int tty = *(const int *)user;
    char eta[32];
    ferry_cli_format_duration(p->eta_s, eta, sizeof eta);
    if (p->epoch_end && p->target_val_accuracy == p->target_val_accuracy) { /* a method run */
        fprintf(stderr,
                "%sepoch %d/%d  %lld steps  loss %.4f  source val %.2f%%  target val %.2f%%  target test %.2f%%  "
                "%.0f img/s",
                tty ? "\r\033[K" : "", p->epoch, p->epochs, (long long)p->steps, p->loss, 100 * p->source_val_accuracy,
                100 * p->target_val_accuracy, 100 * p->test_accuracy, p->images_per_s);
        for (int i = 0; i < p->n_method_metrics; i++)
            fprintf(stderr, "  %s %.4g", p->method_metric_names[i], p->method_metrics[i]);
        fputc('\n', stderr);
        if (p->has_validators) {
            fprintf(stderr, "  validators:");
            for (int v = 0; v < FERRY_VALIDATOR_COUNT; v++)
                fprintf(stderr, " %s %.6g", ferry_validator_name(v), p->validators[v]);
            fputc('\n', stderr);
        }
        return;
    }
    if (p->epoch_end && p->source_val_accuracy == p->source_val_accuracy) { /* a task */
        fprintf(stderr,
                "%sepoch %d/%d  loss %.4f  train acc %.2f%%  source val %.2f%%  target test %.2f%%  "
                "%.0f img/s\n",
                tty ? "\r\033[K" : "", p->epoch, p->epochs, p->loss, 100 * p->accuracy,
                100 * p->source_val_accuracy, 100 * p->test_accuracy, p->images_per_s);
        return;
    }
    if (p->epoch_end) {
        fprintf(stderr, "%sepoch %d/%d  loss %.4f  train acc %.2f%%  test acc %.2f%%  %.0f img/s\n",
                tty ? "\r\033[K" : "", p->epoch, p->epochs, p->loss, 100 * p->accuracy,
                100 * p->test_accuracy, p->images_per_s);
        return;
    }
    if (tty) { /* redraw one line at most every few steps */
        if (p->step % 5 && p->step != 1) return;
        char acc[32] = "";
        if (p->accuracy == p->accuracy) snprintf(acc, sizeof acc, "  acc %.2f%%", 100 * p->accuracy);
        fprintf(stderr, "\r\033[Kepoch %d/%d  step %lld/%lld  loss %.4f%s  %.0f img/s  ETA %s",
                p->epoch, p->epochs, (long long)p->step, (long long)p->steps, p->loss, acc,
                p->images_per_s, eta);
        fflush(stderr);
    } else if (p->step % 50 == 0) {
        char acc[32] = "";
        if (p->accuracy == p->accuracy) snprintf(acc, sizeof acc, " acc %.2f%%", 100 * p->accuracy);
        fprintf(stderr, "epoch %d/%d step %lld/%lld loss %.4f%s %.0f img/s ETA %s\n", p->epoch, p->epochs,
                (long long)p->step, (long long)p->steps, p->loss, acc, p->images_per_s, eta);
    }
}
