/* listing.h - the `connections` listing: which connections an operator
 * asks for (a filter), and how they are counted when only the numbers
 * matter (groups by remote address, state or worker).
 *
 * The filter travels to every worker in its channel request, so that the
 * rows a listing does not want are never sent; the groups are counted in
 * each worker and added up by the master. Both ends use this file: the
 * matching and the grouping are defined once. Pure: no I/O. */
#ifndef RP_LISTING_H
#define RP_LISTING_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "stats.h"

/* What a listing keeps; an unset field matches everything. */
struct listing_filter {
	int32_t worker;       /* -1: any */
	int32_t state;        /* TCP_ESTABLISHED...; -1: any */
	uint64_t min_age_ms;  /* open at least this long */
	union addr_sa remote; /* AF_UNSPEC: any; else the prefix below */
	union addr_sa local;  /* AF_UNSPEC: any; port 0: any port */
	uint8_t remote_bits;  /* prefix length of remote */
	uint8_t local_any_ip; /* local: only the port was given */
	uint8_t pad[6];
};

enum listing_group {
	LISTING_ROWS,      /* the connections themselves */
	LISTING_BY_REMOTE, /* how many per remote IP address */
	LISTING_BY_STATE,  /* per TCP state */
	LISTING_BY_WORKER, /* per worker */
};

/* One group: its key (the remote IP, port 0; or the state; or the
 * worker) and how many connections it has. */
struct listing_group_rec {
	union addr_sa remote;
	int32_t state;
	int32_t worker;
	uint64_t count;
};

void listing_filter_init(struct listing_filter *f);
/* Sets what one argument of the command says: worker=N, remote=IP[/BITS],
 * local=[IP:]PORT or IP, state=NAME, min_age=MS (or a duration: 5s),
 * count-by=remote|state|worker. 0 if it was one of these, 1 if it is
 * not an argument of this kind, -1 with the reason in err if it was, but
 * wrong. */
int listing_parse_arg(const char *arg, struct listing_filter *f,
		      enum listing_group *group, char *err, size_t errlen);
int listing_match(const struct listing_filter *f, const struct stats_conn *c);
/* Does the filter look at anything but the worker (so that the matches
 * can only be counted by walking every connection)? */
int listing_filtered(const struct listing_filter *f);
/* The state's number for a name (ESTABLISHED, CLOSE_WAIT...), or -1. */
int listing_state_number(const char *name);

/* A set of groups, keyed as rec's fields say for its kind; grows as
 * needed (the master merges every worker's into one). */
struct listing_groups {
	enum listing_group kind;
	struct listing_group_rec *recs;
	size_t n, cap;
};

void listing_groups_init(struct listing_groups *g, enum listing_group kind);
/* Adds count to the group rec belongs to. 0, or -1 when out of memory. */
int listing_groups_add(struct listing_groups *g,
		       const struct listing_group_rec *rec);
/* Largest first, then by key: the order they are shown in. */
void listing_groups_sort(struct listing_groups *g);
void listing_groups_free(struct listing_groups *g);

#endif
