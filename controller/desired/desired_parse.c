/* Parsing ahead of the loader: YAML parsing is most of the cost of a large fleet and every file
 * parses on its own, so it runs on threads. The files other than node files are parsed before
 * loading starts. Node files are parsed by workers that run ahead of the loader, in file order,
 * while the loader checks the MacNodes already parsed: at most NODE_FILES_AHEAD trees wait to be
 * loaded, and each is dropped once its MacNode is (the trees of 10,000 node files held at once
 * would take ~80 MiB, which the allocator keeps after they are freed). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/diag.h"
#include "base/yamltree.h"
#include "desired/desired_internal.h"
#include "source/treefiles.h"

/* Threads, the calling one included, and how many files make another one worth starting. */
#define PARSE_THREADS 8
#define PARSE_FILES_PER_THREAD 64
#define NODE_FILES_AHEAD 256

struct parsed_file {
	struct yfile *yf;
	struct yerr err;
	int rc;
	bool parsed;
};

struct desired_parser {
	const struct treefiles *files;
	struct parsed_file *out; /* by file index */
	/* Node files by file index, in file order; the loader has reached loaded of them,
	 * workers take next and may run up to loaded + NODE_FILES_AHEAD. */
	size_t *nodes;
	size_t nnodes, next, loaded;
	bool stop;
	/* Who sleeps on changed; waking only those saves a switch per file when the threads
	 * share a core. */
	size_t idle_workers;
	bool loader_waits;
	pthread_mutex_t lock;
	pthread_cond_t changed; /* loaded or stop moved, or a node file was parsed */
	pthread_t threads[PARSE_THREADS];
	size_t nthreads;
};

static bool is_yaml_path(const char *path)
{
	size_t len = strlen(path);
	return len > 5 && strcmp(path + len - 5, ".yaml") == 0;
}

bool desired_is_node_file(const char *path)
{
	return strncmp(path, "openclaw/nodes/", 15) == 0 && !strchr(path + 15, '/');
}

static void parse_one(const struct treefiles *files, struct parsed_file *out, size_t i)
{
	const struct treefile *tf = &files->v[i];
	out[i].rc = yfile_parse(&out[i].yf, tf->data, tf->len, NULL, &out[i].err);
}

/* How many threads n files are worth, the calling one included. */
static size_t threads_for(size_t n)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	size_t want = n / PARSE_FILES_PER_THREAD, cpus = (size_t)(ncpu > 0 ? ncpu : 1);
	if (want > cpus)
		want = cpus;
	return want > PARSE_THREADS ? PARSE_THREADS : want;
}

/* ---- the files other than node files, all at once ---- */

struct parse_job {
	const struct treefiles *files;
	struct parsed_file *out;
	const size_t *idx;
	size_t n;
	atomic_size_t next;
};

static void *parse_worker(void *arg)
{
	struct parse_job *job = arg;
	size_t k;
	while ((k = atomic_fetch_add(&job->next, 1)) < job->n) {
		parse_one(job->files, job->out, job->idx[k]);
		job->out[job->idx[k]].parsed = true;
	}
	return NULL;
}

/* A thread that cannot be started only means fewer workers. */
static void parse_files(const struct treefiles *files, struct parsed_file *out, const size_t *idx,
			size_t n)
{
	struct parse_job job = {.files = files, .out = out, .idx = idx, .n = n};
	atomic_init(&job.next, 0);
	size_t want = threads_for(n), started = 0;
	pthread_t threads[PARSE_THREADS];
	while (started + 1 < want && pthread_create(&threads[started], NULL, parse_worker, &job) == 0)
		started++;
	parse_worker(&job);
	for (size_t i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
}

/* ---- node files, ahead of the loader ---- */

/* Takes the next node file (lock held, released while parsing). */
static void parse_next_node(struct desired_parser *p)
{
	size_t i = p->nodes[p->next++];
	pthread_mutex_unlock(&p->lock);
	parse_one(p->files, p->out, i);
	pthread_mutex_lock(&p->lock);
	p->out[i].parsed = true;
	if (p->loader_waits)
		pthread_cond_broadcast(&p->changed);
}

static bool may_parse_next(const struct desired_parser *p)
{
	return p->next < p->nnodes && p->next < p->loaded + NODE_FILES_AHEAD;
}

static void *node_worker(void *arg)
{
	struct desired_parser *p = arg;
	pthread_mutex_lock(&p->lock);
	while (!p->stop) {
		if (may_parse_next(p)) {
			parse_next_node(p);
		} else {
			p->idle_workers++;
			pthread_cond_wait(&p->changed, &p->lock);
			p->idle_workers--;
		}
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

struct desired_parser *desired_parse_start(const struct treefiles *files)
{
	struct desired_parser *p = calloc(1, sizeof(*p));
	size_t n = files->n ? files->n : 1;
	size_t *others = calloc(n, sizeof(*others));
	if (!p || !others)
		goto fail;
	p->files = files;
	p->out = calloc(n, sizeof(*p->out));
	p->nodes = calloc(n, sizeof(*p->nodes));
	if (!p->out || !p->nodes)
		goto fail;
	size_t nothers = 0;
	for (size_t i = 0; i < files->n; i++) {
		if (!is_yaml_path(files->v[i].path))
			continue;
		if (desired_is_node_file(files->v[i].path))
			p->nodes[p->nnodes++] = i;
		else
			others[nothers++] = i;
	}
	parse_files(files, p->out, others, nothers);
	free(others);
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->changed, NULL);
	size_t want = threads_for(p->nnodes);
	while (p->nthreads + 1 < want &&
	       pthread_create(&p->threads[p->nthreads], NULL, node_worker, p) == 0)
		p->nthreads++;
	return p;
fail:
	free(others);
	if (p) {
		free(p->out);
		free(p->nodes);
		free(p);
	}
	return NULL;
}

void desired_parse_node(struct desired_parser *p, size_t i)
{
	pthread_mutex_lock(&p->lock);
	while (p->loaded < p->nnodes && p->nodes[p->loaded] < i)
		p->loaded++;
	/* Idle workers are woken once half the room ahead is free, not at every file. */
	if (p->idle_workers && p->next < p->nnodes && p->next <= p->loaded + NODE_FILES_AHEAD / 2)
		pthread_cond_broadcast(&p->changed);
	if (p->loaded < p->nnodes && p->nodes[p->loaded] == i) {
		/* The loader parses too rather than wait, the file it needs first when no worker
		 * has taken it. */
		while (!p->out[i].parsed) {
			if (may_parse_next(p)) {
				parse_next_node(p);
			} else {
				p->loader_waits = true;
				pthread_cond_wait(&p->changed, &p->lock);
				p->loader_waits = false;
			}
		}
	}
	pthread_mutex_unlock(&p->lock);
}

void desired_parse_drop(struct desired_parser *p, size_t i)
{
	yfile_free(p->out[i].yf);
	p->out[i].yf = NULL;
}

struct yfile *desired_parsed_yaml(struct loader *ld, const struct treefile *tf)
{
	const struct parsed_file *pf = &ld->parser->out[tf - ld->files->v];
	if (pf->rc < 0) {
		diag_add(ld->diags, tf->path, pf->err.line, pf->err.col, NULL, NULL, "%s",
			 pf->err.msg);
		return NULL;
	}
	return pf->yf;
}

void desired_parse_free(struct desired_parser *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_broadcast(&p->changed);
	pthread_mutex_unlock(&p->lock);
	for (size_t i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	pthread_cond_destroy(&p->changed);
	pthread_mutex_destroy(&p->lock);
	for (size_t i = 0; i < p->files->n; i++)
		yfile_free(p->out[i].yf);
	free(p->out);
	free(p->nodes);
	free(p);
}
