/* The results store: SQLite in WAL mode, one row per run, one row per evaluation. See bench.h for the
 * schema. Every change is a transaction. */
#include "bench_internal.h"
#include "ferry_commit.h"

#include <errno.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define SCHEMA_VERSION "1"

struct ferry_results {
    sqlite3 *db;
    char path[1024];
};

static const char *schema =
    "CREATE TABLE IF NOT EXISTS meta(name TEXT PRIMARY KEY, value TEXT);"
    "CREATE TABLE IF NOT EXISTS runs("
    "  key TEXT PRIMARY KEY, suite TEXT, task TEXT, method TEXT, seed INTEGER,"
    "  hparams TEXT, config TEXT, config_hash TEXT, ferry_version TEXT, ferry_commit TEXT,"
    "  device_backend TEXT, device_vendor TEXT, device_name TEXT, device_driver TEXT, device_api TEXT,"
    "  threads INTEGER, started_at TEXT, finished_at TEXT, status TEXT, error TEXT);"
    "CREATE TABLE IF NOT EXISTS metrics("
    "  key TEXT, epoch INTEGER, source_val REAL, target_val REAL, target_test REAL, loss REAL, step_ms REAL,"
    "  PRIMARY KEY (key, epoch));"
    "CREATE TABLE IF NOT EXISTS method_metrics("
    "  key TEXT, epoch INTEGER, name TEXT, value REAL, PRIMARY KEY (key, epoch, name));"
    "CREATE TABLE IF NOT EXISTS validators("
    "  key TEXT, epoch INTEGER, name TEXT, value REAL, PRIMARY KEY (key, epoch, name));"
    "CREATE TABLE IF NOT EXISTS confusion("
    "  key TEXT, epoch INTEGER, true_class INTEGER, predicted INTEGER, count INTEGER,"
    "  PRIMARY KEY (key, epoch, true_class, predicted));"
    "INSERT OR IGNORE INTO meta VALUES ('schema_version', '" SCHEMA_VERSION "');";

void ferry_bench_now_iso(char *buf, size_t n)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* SQLite's message, and for an I/O failure the system's reason ("File too large", "No space left") */
static void db_message(ferry_results_t *r, const char *msg, char *out, size_t n)
{
    int code = sqlite3_errcode(r->db) & 0xff, e = sqlite3_system_errno(r->db);
    if ((code == SQLITE_IOERR || code == SQLITE_FULL) && e) snprintf(out, n, "%s (%s)", msg, strerror(e));
    else snprintf(out, n, "%s", msg);
}

static ferry_status db_error(ferry_results_t *r, const char *what)
{
    char m[512];
    db_message(r, sqlite3_errmsg(r->db), m, sizeof m);
    return ferry_error(FERRY_ERR_IO, "%s: %s: %s", r->path, what, m);
}

static ferry_status exec(ferry_results_t *r, const char *sql, const char *what)
{
    char *msg = NULL;
    if (sqlite3_exec(r->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        char m[512];
        db_message(r, msg ? msg : "?", m, sizeof m);
        ferry_status s = ferry_error(FERRY_ERR_IO, "%s: %s: %s", r->path, what, m);
        sqlite3_free(msg);
        return s;
    }
    return FERRY_OK;
}

/* Clean-up after an error (ROLLBACK, DETACH): its own failure must not replace that error's message. */
static void quiet(ferry_results_t *r, const char *sql) { sqlite3_exec(r->db, sql, NULL, NULL, NULL); }

/* A statement with one text parameter, the key. */
static ferry_status exec_key(ferry_results_t *r, const char *sql, const char *key)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(r->db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_OK ? FERRY_OK : ferry_error(FERRY_ERR_IO, "%s: %s", r->path, sqlite3_errmsg(r->db));
}

/* The size of a regular file; -1 if there is none. */
static long long file_size(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode) ? (long long)sb.st_size : -1;
}

/* A damaged file (not a database, truncated, pages corrupted) is refused before anything is written to
 * it: SQLite's quick_check reads every page (milliseconds for a store of thousands of runs). */
static ferry_status check_intact(ferry_results_t *r)
{
    sqlite3_stmt *st = NULL;
    ferry_status s = FERRY_OK;
    if (sqlite3_prepare_v2(r->db, "PRAGMA quick_check", -1, &st, NULL) != SQLITE_OK) {
        int code = sqlite3_errcode(r->db);
        if (code == SQLITE_NOTADB)
            s = ferry_error(FERRY_ERR_FORMAT, "%s: not a Ferry results database (%s); left as it is", r->path,
                            sqlite3_errmsg(r->db));
        else if (code == SQLITE_CORRUPT)
            s = ferry_error(FERRY_ERR_FORMAT, "%s: the results database is damaged (%s); left as it is: restore it "
                            "from a copy, or give another store", r->path, sqlite3_errmsg(r->db));
        else
            s = ferry_error(FERRY_ERR_IO, "%s: cannot read the results database: %s", r->path, sqlite3_errmsg(r->db));
    } else {
        int rc = sqlite3_step(st);
        const char *v = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
        if (!v || strcmp(v, "ok"))
            s = ferry_error(FERRY_ERR_FORMAT, "%s: the results database is damaged (%s); left as it is: restore it "
                            "from a copy, or give another store", r->path, v ? v : sqlite3_errmsg(r->db));
    }
    sqlite3_finalize(st);
    return s;
}

ferry_status ferry_results_open(const char *path, bool writable, ferry_results_t **out)
{
    *out = NULL;
    ferry_results_t *r = calloc(1, sizeof *r);
    if (!r) return ferry_error(FERRY_ERR_NOMEM, "out of memory");
    snprintf(r->path, sizeof r->path, "%s", path);
    /* an existing file is never made a new store: an empty one (truncated, or not a store) is refused.
     * (A store's main file can be empty while its write-ahead log holds everything.) */
    char wal[sizeof r->path + 8];
    snprintf(wal, sizeof wal, "%s-wal", path);
    ferry_status s = FERRY_OK;
    /* (another process may have just created it: it writes the schema within milliseconds) */
    for (int tries = 0; file_size(path) == 0 && file_size(wal) <= 0; tries++) {
        if (tries == 20) {
            free(r);
            return ferry_error(FERRY_ERR_FORMAT, "%s: the file is empty, not a Ferry results database (left as it is: "
                               "remove it to start a new store there)", path);
        }
        nanosleep(&(struct timespec){.tv_nsec = 100000000}, NULL);
    }
    if (writable) ferry_mkdir_parents(path); /* a failure shows when the store is opened */
    int flags = writable ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE : SQLITE_OPEN_READONLY;
    if (sqlite3_open_v2(path, &r->db, flags, NULL) != SQLITE_OK) {
        s = ferry_error(FERRY_ERR_IO, "%s: cannot open the results database: %s", path,
                        r->db ? sqlite3_errmsg(r->db) : "out of memory");
        goto fail;
    }
    sqlite3_busy_timeout(r->db, 30000);
    if ((s = check_intact(r))) goto fail;
    if (writable) {
        /* WAL, the schema, and a write now: an unwritable store fails here, before any run. Two processes
         * opening a new store at once: the journal-mode change can get SQLITE_BUSY at once (SQLite skips
         * the busy handler where waiting could deadlock; seen: "database is locked" in test_faults'
         * two writers), so it is retried here, up to the busy timeout's 30 s. */
        for (int tries = 0; (s = exec(r, "PRAGMA journal_mode=WAL;", "cannot use write-ahead logging")) &&
                            (sqlite3_errcode(r->db) & 0xff) == SQLITE_BUSY && tries < 300;
             tries++)
            nanosleep(&(struct timespec){.tv_nsec = 100000000}, NULL);
        if (s ||
            (s = exec(r, "BEGIN IMMEDIATE;", "cannot write")) || (s = exec(r, schema, "cannot create the schema")) ||
            (s = exec(r, "COMMIT;", "cannot write")))
            goto fail;
    }
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(r->db, "SELECT value FROM meta WHERE name = 'schema_version'", -1, &st, NULL) != SQLITE_OK) {
        s = ferry_error(FERRY_ERR_FORMAT, "%s: not a Ferry results database (%s)", path, sqlite3_errmsg(r->db));
        goto fail;
    }
    const char *version = sqlite3_step(st) == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
    if (!version || strcmp(version, SCHEMA_VERSION) != 0) { /* (a NULL value too) */
        sqlite3_finalize(st);
        s = ferry_error(FERRY_ERR_FORMAT, "%s: results schema version is not %s", path, SCHEMA_VERSION);
        goto fail;
    }
    sqlite3_finalize(st);
    *out = r;
    return FERRY_OK;
fail:
    sqlite3_close(r->db);
    free(r);
    return s;
}

void ferry_results_close(ferry_results_t *r)
{
    if (!r) return;
    sqlite3_close(r->db);
    free(r);
}

enum run_state ferry_results_state(ferry_results_t *r, const char *key)
{
    sqlite3_stmt *st = NULL;
    enum run_state state = RUN_ABSENT;
    if (sqlite3_prepare_v2(r->db, "SELECT status FROM runs WHERE key = ?", -1, &st, NULL) != SQLITE_OK) return state;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(st, 0);
        state = !v                          ? RUN_RUNNING
                : !strcmp(v, "done")            ? RUN_DONE
                : !strcmp(v, "diverged")        ? RUN_DIVERGED
                : !strcmp(v, "failed") || !strcmp(v, "interrupted") ? RUN_FAILED
                                                : RUN_RUNNING;
    }
    sqlite3_finalize(st);
    return state;
}

ferry_status ferry_results_begin(ferry_results_t *r, const struct run_begin *b)
{
    ferry_status s;
    if ((s = exec(r, "BEGIN IMMEDIATE;", "cannot write"))) return s;
    sqlite3_stmt *del = NULL, *ins = NULL;
    const char *sql =
        "INSERT OR REPLACE INTO runs(key, suite, task, method, seed, hparams, config, config_hash, ferry_version,"
        " ferry_commit, device_backend, device_vendor, device_name, device_driver, device_api, threads, started_at,"
        " finished_at, status, error) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,NULL,'running',NULL)";
    char now[32];
    ferry_bench_now_iso(now, sizeof now);
    if (exec_key(r, "DELETE FROM method_metrics WHERE key = ?", b->key) ||
        exec_key(r, "DELETE FROM validators WHERE key = ?", b->key) ||
        exec_key(r, "DELETE FROM confusion WHERE key = ?", b->key) ||
        sqlite3_prepare_v2(r->db, "DELETE FROM metrics WHERE key = ?", -1, &del, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(r->db, sql, -1, &ins, NULL) != SQLITE_OK) {
        s = db_error(r, "cannot record a run");
        goto done;
    }
    sqlite3_bind_text(del, 1, b->key, -1, SQLITE_STATIC);
    const char *txt[] = {b->key, b->suite, b->task, b->method};
    for (int i = 0; i < 4; i++) sqlite3_bind_text(ins, i + 1, txt[i], -1, SQLITE_STATIC);
    sqlite3_bind_int64(ins, 5, (sqlite3_int64)b->seed);
    sqlite3_bind_text(ins, 6, b->hparams_json, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 7, b->config_json, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 8, b->config_hash, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 9, FERRY_VERSION_STRING, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 10, FERRY_COMMIT, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 11, b->device->backend, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 12, b->device->vendor, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 13, b->device->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 14, b->device->driver, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 15, b->device->api, -1, SQLITE_STATIC);
    sqlite3_bind_int(ins, 16, b->threads);
    sqlite3_bind_text(ins, 17, now, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(del) != SQLITE_DONE || sqlite3_step(ins) != SQLITE_DONE) {
        s = db_error(r, "cannot record a run");
        goto done;
    }
    s = exec(r, "COMMIT;", "cannot write");
done:
    sqlite3_finalize(del);
    sqlite3_finalize(ins);
    if (s) quiet(r, "ROLLBACK;");
    return s;
}

ferry_status ferry_results_finish(ferry_results_t *r, const char *key, int n, const double *source_val,
                                  const double *target_val, const double *target_test, const double *loss,
                                  const double *step_ms, const struct method_metrics *mm, const double *validators,
                                  const struct confusion *cm, const char *status, const char *error)
{
    ferry_status s;
    if ((s = exec(r, "BEGIN IMMEDIATE;", "cannot write"))) return s;
    sqlite3_stmt *ins = NULL, *upd = NULL;
    char now[32];
    ferry_bench_now_iso(now, sizeof now);
    if (sqlite3_prepare_v2(r->db, "INSERT OR REPLACE INTO metrics VALUES (?,?,?,?,?,?,?)", -1, &ins, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(r->db, "UPDATE runs SET status = ?, error = ?, finished_at = ? WHERE key = ?", -1, &upd,
                           NULL) != SQLITE_OK) {
        s = db_error(r, "cannot record results");
        goto done;
    }
    for (int e = 0; e < n && !s; e++) {
        sqlite3_reset(ins);
        sqlite3_bind_text(ins, 1, key, -1, SQLITE_STATIC);
        sqlite3_bind_int(ins, 2, e + 1);
        const double *v[] = {source_val, target_val, target_test, loss, step_ms};
        for (int k = 0; k < 5; k++) sqlite3_bind_double(ins, 3 + k, v[k][e]);
        if (sqlite3_step(ins) != SQLITE_DONE) s = db_error(r, "cannot record metrics");
    }
    if (!s && mm && mm->n_names > 0) {
        sqlite3_stmt *mi = NULL;
        if (sqlite3_prepare_v2(r->db, "INSERT OR REPLACE INTO method_metrics VALUES (?,?,?,?)", -1, &mi, NULL) !=
            SQLITE_OK)
            s = db_error(r, "cannot record the method's metrics");
        for (int e = 0; e < n && !s; e++)
            for (int j = 0; j < mm->n_names && !s; j++) {
                sqlite3_reset(mi);
                sqlite3_bind_text(mi, 1, key, -1, SQLITE_STATIC);
                sqlite3_bind_int(mi, 2, e + 1);
                sqlite3_bind_text(mi, 3, mm->names[j], -1, SQLITE_STATIC);
                sqlite3_bind_double(mi, 4, mm->values[e * FERRY_MAX_METHOD_METRICS + j]);
                if (sqlite3_step(mi) != SQLITE_DONE) s = db_error(r, "cannot record the method's metrics");
            }
        sqlite3_finalize(mi);
    }
    if (!s && validators) { /* NaN: an epoch without them */
        sqlite3_stmt *vi = NULL;
        if (sqlite3_prepare_v2(r->db, "INSERT OR REPLACE INTO validators VALUES (?,?,?,?)", -1, &vi, NULL) != SQLITE_OK)
            s = db_error(r, "cannot record the validators");
        for (int e = 0; e < n && !s; e++)
            for (int v = 0; v < FERRY_VALIDATOR_COUNT && !s; v++) {
                if (isnan(validators[e * FERRY_VALIDATOR_COUNT + v])) continue;
                sqlite3_reset(vi);
                sqlite3_bind_text(vi, 1, key, -1, SQLITE_STATIC);
                sqlite3_bind_int(vi, 2, e + 1);
                sqlite3_bind_text(vi, 3, ferry_validator_name(v), -1, SQLITE_STATIC);
                sqlite3_bind_double(vi, 4, validators[e * FERRY_VALIDATOR_COUNT + v]);
                if (sqlite3_step(vi) != SQLITE_DONE) s = db_error(r, "cannot record the validators");
            }
        sqlite3_finalize(vi);
    }
    if (!s && cm) { /* the nonzero counts */
        sqlite3_stmt *ci = NULL;
        const int k = cm->classes;
        if (sqlite3_prepare_v2(r->db, "INSERT OR REPLACE INTO confusion VALUES (?,?,?,?,?)", -1, &ci, NULL) != SQLITE_OK)
            s = db_error(r, "cannot record the confusion matrices");
        for (int e = 0; e < n && !s; e++)
            for (int t = 0; cm->has[e] && t < k && !s; t++)
                for (int q = 0; q < k && !s; q++) {
                    int32_t c = cm->counts[((size_t)e * k + t) * k + q];
                    if (!c) continue;
                    sqlite3_reset(ci);
                    sqlite3_bind_text(ci, 1, key, -1, SQLITE_STATIC);
                    sqlite3_bind_int(ci, 2, e + 1);
                    sqlite3_bind_int(ci, 3, t);
                    sqlite3_bind_int(ci, 4, q);
                    sqlite3_bind_int(ci, 5, c);
                    if (sqlite3_step(ci) != SQLITE_DONE) s = db_error(r, "cannot record the confusion matrices");
                }
        sqlite3_finalize(ci);
    }
    if (!s) {
        sqlite3_bind_text(upd, 1, status, -1, SQLITE_STATIC);
        if (error) sqlite3_bind_text(upd, 2, error, -1, SQLITE_STATIC);
        else sqlite3_bind_null(upd, 2);
        sqlite3_bind_text(upd, 3, now, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(upd, 4, key, -1, SQLITE_STATIC);
        if (sqlite3_step(upd) != SQLITE_DONE) s = db_error(r, "cannot record a run's end");
    }
    if (!s) s = exec(r, "COMMIT;", "cannot write");
done:
    sqlite3_finalize(ins);
    sqlite3_finalize(upd);
    if (s) quiet(r, "ROLLBACK;");
    return s;
}

static void text(char *dst, size_t n, sqlite3_stmt *st, int col)
{
    const unsigned char *v = sqlite3_column_text(st, col);
    snprintf(dst, n, "%s", v ? (const char *)v : "");
}

ferry_status ferry_results_runs(ferry_results_t *r, const char *suite, ferry_run_row **rows, int *n)
{
    *rows = NULL;
    *n = 0;
    sqlite3_stmt *st = NULL, *mt = NULL;
    const char *sql =
        "SELECT key, suite, task, method, seed, hparams, config_hash, status,"
        " device_backend || ', ' || device_vendor || ' ' || device_name || ', ' || device_driver,"
        " coalesce(json_extract(config, '$.target_labels'), 0), coalesce(json_extract(config, '$.semi_supervised'), 0),"
        " config, ferry_commit, started_at, finished_at"
        " FROM runs WHERE status = 'done' AND (?1 IS NULL OR suite = ?1) ORDER BY task, method, seed, key";
    if (sqlite3_prepare_v2(r->db, sql, -1, &st, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(r->db,
                           "SELECT epoch, source_val, target_val, target_test, loss, step_ms FROM metrics"
                           " WHERE key = ? ORDER BY epoch", -1, &mt, NULL) != SQLITE_OK) {
        ferry_status s = db_error(r, "cannot read runs");
        sqlite3_finalize(st);
        return s;
    }
    if (suite) sqlite3_bind_text(st, 1, suite, -1, SQLITE_STATIC);
    sqlite3_stmt *vt = NULL;
    if (sqlite3_prepare_v2(r->db, "SELECT epoch, name, value FROM validators WHERE key = ?", -1, &vt, NULL) != SQLITE_OK)
        vt = NULL;
    int cap = 0;
    ferry_status s = FERRY_OK;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 64;
            ferry_run_row *nr = realloc(*rows, (size_t)cap * sizeof *nr);
            if (!nr) {
                s = ferry_error(FERRY_ERR_NOMEM, "out of memory reading runs");
                break;
            }
            *rows = nr;
        }
        ferry_run_row *row = &(*rows)[*n];
        memset(row, 0, sizeof *row);
        text(row->key, sizeof row->key, st, 0);
        text(row->suite, sizeof row->suite, st, 1);
        text(row->task, sizeof row->task, st, 2);
        text(row->method, sizeof row->method, st, 3);
        row->seed = (uint64_t)sqlite3_column_int64(st, 4);
        text(row->hparams, sizeof row->hparams, st, 5);
        text(row->config_hash, sizeof row->config_hash, st, 6);
        text(row->status, sizeof row->status, st, 7);
        text(row->device, sizeof row->device, st, 8);
        row->target_labels = sqlite3_column_int(st, 9);
        row->semi_supervised = sqlite3_column_int(st, 10) != 0;
        text(row->config, sizeof row->config, st, 11);
        text(row->commit, sizeof row->commit, st, 12);
        text(row->started, sizeof row->started, st, 13);
        text(row->finished, sizeof row->finished, st, 14);
        sqlite3_reset(mt);
        sqlite3_bind_text(mt, 1, row->key, -1, SQLITE_STATIC);
        while (sqlite3_step(mt) == SQLITE_ROW && row->n_epochs < 256) {
            int e = row->n_epochs++;
            row->source_val[e] = sqlite3_column_double(mt, 1);
            row->target_val[e] = sqlite3_column_double(mt, 2);
            row->target_test[e] = sqlite3_column_double(mt, 3);
            row->loss[e] = sqlite3_column_double(mt, 4);
            row->step_ms[e] = sqlite3_column_double(mt, 5);
        }
        for (int e = 0; e < 256; e++)
            for (int v = 0; v < FERRY_VALIDATOR_COUNT; v++) row->validators[e][v] = 0.0 / 0.0;
        if (vt) { /* a store from before the validators has no table of them */
            sqlite3_reset(vt);
            sqlite3_bind_text(vt, 1, row->key, -1, SQLITE_STATIC);
            while (sqlite3_step(vt) == SQLITE_ROW) {
                int e = sqlite3_column_int(vt, 0), v = ferry_validator_find((const char *)sqlite3_column_text(vt, 1));
                if (e >= 1 && e <= 256 && v >= 0) row->validators[e - 1][v] = sqlite3_column_double(vt, 2);
            }
        }
        (*n)++;
    }
    if (!s && rc != SQLITE_DONE) s = db_error(r, "cannot read runs");
    sqlite3_finalize(st);
    sqlite3_finalize(mt);
    sqlite3_finalize(vt);
    if (s) {
        free(*rows);
        *rows = NULL;
        *n = 0;
    }
    return s;
}

ferry_status ferry_results_confusion(ferry_results_t *r, const char *key, int epoch, int32_t **counts, int *classes)
{
    *counts = NULL;
    *classes = 0;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(r->db, "SELECT true_class, predicted, count FROM confusion WHERE key = ? AND epoch = ?"
                           " ORDER BY true_class, predicted", -1, &st, NULL) != SQLITE_OK)
        return FERRY_OK; /* a store from before the confusion matrices */
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, epoch);
    int rc, cap = 0, n = 0, k = 0;
    int (*e)[3] = NULL;
    ferry_status s = FERRY_OK;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? 2 * cap : 128;
            int(*ne)[3] = realloc(e, (size_t)cap * sizeof *e);
            if (!ne) {
                s = ferry_error(FERRY_ERR_NOMEM, "out of memory reading a confusion matrix");
                break;
            }
            e = ne;
        }
        for (int c = 0; c < 3; c++) e[n][c] = sqlite3_column_int(st, c);
        if (e[n][0] < 0 || e[n][1] < 0 || e[n][0] >= 4096 || e[n][1] >= 4096) {
            s = ferry_error(FERRY_ERR_FORMAT, "%s: run %.12s epoch %d: a confusion count for classes %d, %d",
                            r->path, key, epoch, e[n][0], e[n][1]);
            break;
        }
        if (e[n][0] >= k) k = e[n][0] + 1;
        if (e[n][1] >= k) k = e[n][1] + 1;
        n++;
    }
    if (!s && rc != SQLITE_DONE) s = db_error(r, "cannot read the confusion matrix");
    sqlite3_finalize(st);
    if (!s && k) {
        if (!(*counts = calloc((size_t)k * k, sizeof **counts))) s = ferry_error(FERRY_ERR_NOMEM, "out of memory");
        for (int i = 0; i < n && !s; i++) (*counts)[e[i][0] * k + e[i][1]] = e[i][2];
        if (!s) *classes = k;
    }
    free(e);
    return s;
}

ferry_status ferry_results_problems(ferry_results_t *r, const char *suite, ferry_run_problem **out, int *n)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(r->db,
                           "SELECT task, method, seed, hparams, coalesce(status, 'running'), coalesce(error, '')"
                           " FROM runs WHERE coalesce(status, '') != 'done' AND (?1 IS NULL OR suite = ?1)"
                           " ORDER BY task, method, hparams, seed, key", -1, &st, NULL) != SQLITE_OK)
        return db_error(r, "cannot read runs");
    if (suite) sqlite3_bind_text(st, 1, suite, -1, SQLITE_STATIC);
    ferry_status s = FERRY_OK;
    int rc, cap = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            ferry_run_problem *np = realloc(*out, (size_t)cap * sizeof *np);
            if (!np) {
                s = ferry_error(FERRY_ERR_NOMEM, "out of memory reading runs");
                break;
            }
            *out = np;
        }
        ferry_run_problem *p = &(*out)[(*n)++];
        text(p->task, sizeof p->task, st, 0);
        text(p->method, sizeof p->method, st, 1);
        p->seed = (uint64_t)sqlite3_column_int64(st, 2);
        text(p->hparams, sizeof p->hparams, st, 3);
        text(p->status, sizeof p->status, st, 4);
        text(p->error, sizeof p->error, st, 5);
        p->error[strcspn(p->error, "\n")] = '\0';
    }
    if (!s && rc != SQLITE_DONE) s = db_error(r, "cannot read runs");
    sqlite3_finalize(st);
    if (s) {
        free(*out);
        *out = NULL;
        *n = 0;
    }
    return s;
}

ferry_status ferry_results_merge(ferry_results_t *dst, const char *src_path)
{
    ferry_results_t *src;
    ferry_status s = ferry_results_open(src_path, false, &src); /* checks it is a store */
    if (s) return s;
    ferry_results_close(src);
    sqlite3_stmt *at = NULL;
    if (sqlite3_prepare_v2(dst->db, "ATTACH DATABASE ? AS src", -1, &at, NULL) != SQLITE_OK)
        return db_error(dst, "cannot attach");
    sqlite3_bind_text(at, 1, src_path, -1, SQLITE_STATIC);
    int rc = sqlite3_step(at);
    sqlite3_finalize(at);
    if (rc != SQLITE_DONE) return ferry_error(FERRY_ERR_IO, "%s: cannot open: %s", src_path, sqlite3_errmsg(dst->db));
    /* finished runs only; a run already present (done) is kept as it is */
    s = exec(dst,
             "BEGIN IMMEDIATE;"
             "DELETE FROM metrics WHERE key IN (SELECT key FROM runs WHERE status != 'done'"
             "  AND key IN (SELECT key FROM src.runs WHERE status = 'done'));"
             "DELETE FROM method_metrics WHERE key IN (SELECT key FROM runs WHERE status != 'done'"
             "  AND key IN (SELECT key FROM src.runs WHERE status = 'done'));"
             "DELETE FROM validators WHERE key IN (SELECT key FROM runs WHERE status != 'done'"
             "  AND key IN (SELECT key FROM src.runs WHERE status = 'done'));"
             "DELETE FROM runs WHERE status != 'done' AND key IN (SELECT key FROM src.runs WHERE status = 'done');"
             "INSERT OR IGNORE INTO runs SELECT * FROM src.runs WHERE status = 'done';"
             "INSERT OR IGNORE INTO metrics SELECT m.* FROM src.metrics m JOIN src.runs r ON m.key = r.key"
             "  WHERE r.status = 'done';"
             "INSERT OR IGNORE INTO method_metrics SELECT m.* FROM src.method_metrics m JOIN src.runs r"
             "  ON m.key = r.key WHERE r.status = 'done';",
             "cannot merge");
    /* a store from before the validators has no table of them */
    sqlite3_stmt *has = NULL;
    bool src_validators = false;
    if (!s && sqlite3_prepare_v2(dst->db, "SELECT 1 FROM src.sqlite_master WHERE type = 'table' AND name = 'validators'",
                                 -1, &has, NULL) == SQLITE_OK)
        src_validators = sqlite3_step(has) == SQLITE_ROW;
    sqlite3_finalize(has);
    if (!s && src_validators)
        s = exec(dst,
                 "INSERT OR IGNORE INTO validators SELECT v.* FROM src.validators v JOIN src.runs r"
                 "  ON v.key = r.key WHERE r.status = 'done';",
                 "cannot merge");
    bool src_confusion = false; /* nor one from before the confusion matrices */
    if (!s && sqlite3_prepare_v2(dst->db, "SELECT 1 FROM src.sqlite_master WHERE type = 'table' AND name = 'confusion'",
                                 -1, &has, NULL) == SQLITE_OK)
        src_confusion = sqlite3_step(has) == SQLITE_ROW;
    sqlite3_finalize(has);
    if (!s && src_confusion)
        s = exec(dst,
                 "DELETE FROM confusion WHERE key IN (SELECT key FROM runs WHERE status != 'done'"
                 "  AND key IN (SELECT key FROM src.runs WHERE status = 'done'));"
                 "INSERT OR IGNORE INTO confusion SELECT c.* FROM src.confusion c JOIN src.runs r"
                 "  ON c.key = r.key WHERE r.status = 'done';",
                 "cannot merge");
    if (!s) s = exec(dst, "COMMIT;", "cannot merge");
    if (s) quiet(dst, "ROLLBACK;");
    quiet(dst, "DETACH DATABASE src;");
    return s;
}
