/* slots.c - listening sockets per worker slot, and the classic BPF program
 * that steers new connections among them. Opens and closes sockets; never
 * accepts (the workers do, listener.c). */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "listener.h"
#include "log.h"
#include "slots.h"
#include "util.h"

void slots_init(struct slots *s, int nlisten, int backlog)
{
	memset(s, 0, sizeof(*s));
	s->nlisten = nlisten;
	s->backlog = backlog;
	s->steering = 1;
	for (int i = 0; i < CFG_MAX_WORKERS; i++)
		for (int j = 0; j < CFG_MAX_LISTEN; j++)
			s->fd[i][j] = -1;
}

int slots_check_free(const struct addr *listen, int nlisten, char *err,
		     size_t errlen)
{
	for (int j = 0; j < nlisten; j++)
		if (addr_port(&listen[j].u.sa) != 0 &&
		    lst_check_free(&listen[j], err, errlen) < 0)
			return -1;
	return 0;
}

/* A port 0 address takes the port its first socket was given. */
static int slots_learn_port(int fd, struct addr *a, char *err, size_t errlen)
{
	union addr_sa got;
	socklen_t len = sizeof(got);

	if (addr_port(&a->u.sa) != 0)
		return 0;
	if (getsockname(fd, &got.sa, &len) < 0) {
		snprintf(err, errlen, "getsockname: %s", strerror(errno));
		return -1;
	}
	addr_set_port(a, addr_port(&got.sa));
	return 0;
}

static int slots_open_one(struct slots *s, int i, struct addr *listen,
			  char *err, size_t errlen)
{
	for (int j = 0; j < s->nlisten; j++) {
		int fd;

		if (i == 0 && addr_port(&listen[j].u.sa) == 0)
			s->wild[j] = 1;
		fd = lst_open(&listen[j], s->backlog, err, errlen);
		if (fd < 0)
			return -1;
		s->fd[i][j] = fd;
		if (slots_learn_port(fd, &listen[j], err, errlen) < 0)
			return -1;
	}
	return 0;
}

int slots_open(struct slots *s, struct addr *listen, int n, char *err,
	       size_t errlen)
{
	int first = s->nslots;

	for (; s->nslots < n; s->nslots++)
		if (slots_open_one(s, s->nslots, listen, err, errlen) < 0) {
			s->nslots++; /* close the part of it that opened */
			slots_close_from(s, first);
			return -1;
		}
	s->peak = UTIL_MAX(s->peak, s->nslots);
	return 0;
}

/* Same family and address (and IPv6 scope), whatever the port? */
static int slots_same_ip(const struct sockaddr *a, const struct sockaddr *b)
{
	const struct sockaddr_in *a4 = (const void *)a, *b4 = (const void *)b;
	const struct sockaddr_in6 *a6 = (const void *)a, *b6 = (const void *)b;

	if (a->sa_family != b->sa_family)
		return 0;
	if (a->sa_family == AF_INET)
		return a4->sin_addr.s_addr == b4->sin_addr.s_addr;
	return a->sa_family == AF_INET6 &&
	       !memcmp(&a6->sin6_addr, &b6->sin6_addr, sizeof(a6->sin6_addr)) &&
	       a6->sin6_scope_id == b6->sin6_scope_id;
}

/* Same family, address and port (and IPv6 scope)? */
static int slots_same_endpoint(const struct sockaddr *a, const struct sockaddr *b)
{
	return addr_port(a) == addr_port(b) && slots_same_ip(a, b);
}

/* One inherited listener: what it is bound to, if it is a listening
 * SO_REUSEPORT TCP socket; -1 with the reason if not. */
static int slots_inherited(int fd, struct addr *got, char *err, size_t errlen)
{
	int listening = 0, type = 0, reuseport = 0;
	socklen_t l1 = sizeof(listening), l2 = sizeof(type),
		  l3 = sizeof(reuseport);

	memset(got, 0, sizeof(*got));
	got->len = sizeof(got->u);
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &l1) < 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l2) < 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &reuseport, &l3) < 0 ||
	    getsockname(fd, &got->u.sa, &got->len) < 0) {
		snprintf(err, errlen, "inherited listener (fd %d): %s", fd,
			 strerror(errno));
		return -1;
	}
	if (!listening || type != SOCK_STREAM || !reuseport ||
	    (got->u.sa.sa_family != AF_INET && got->u.sa.sa_family != AF_INET6)) {
		snprintf(err, errlen,
			 "inherited fd %d is not a listening SO_REUSEPORT TCP socket",
			 fd);
		return -1;
	}
	return 0;
}

/* The addresses of one slot's inherited listeners, checked to be
 * listening SO_REUSEPORT TCP sockets. */
static int slots_inherited_slot(const int *fds, int n, struct addr *got,
				char *err, size_t errlen)
{
	for (int j = 0; j < n; j++)
		if (slots_inherited(fds[j], &got[j], err, errlen) < 0)
			return -1;
	return 0;
}

int slots_adopt(struct slots *s, struct addr *listen, const int *fds,
		int nslots, int fd_nlisten, char *err, size_t errlen)
{
	struct addr first[CFG_MAX_LISTEN], got[CFG_MAX_LISTEN];
	char want[512], had[512];
	int n = s->nlisten, same = fd_nlisten == n;

	if (s->nslots || nslots < 1 || nslots > CFG_MAX_WORKERS ||
	    fd_nlisten < 1 || fd_nlisten > CFG_MAX_LISTEN) {
		snprintf(err, errlen, "cannot adopt %d slots of %d listeners",
			 nslots, fd_nlisten);
		return -1;
	}
	if (slots_inherited_slot(fds, fd_nlisten, first, err, errlen) < 0)
		return -1;
	/* Slot 0 against the configuration (a port 0 there: whatever port
	 * was chosen), the others against slot 0. */
	for (int j = 0; j < n && same; j++) {
		if (addr_port(&listen[j].u.sa) == 0) {
			addr_set_port(&listen[j], addr_port(&first[j].u.sa));
			s->wild[j] = 1;
		}
		same = slots_same_endpoint(&first[j].u.sa, &listen[j].u.sa);
	}
	if (!same) {
		snprintf(err, errlen,
			 "the old master listens on %s, the configuration says %s: an upgrade keeps the listening sockets (change the listen addresses by a reload before or after it)",
			 addr_format_list(first, fd_nlisten, had, sizeof(had)),
			 addr_format_list(listen, s->nlisten, want, sizeof(want)));
		return -1;
	}
	for (int i = 1; i < nslots; i++) {
		if (slots_inherited_slot(fds + i * n, n, got, err, errlen) < 0)
			return -1;
		for (int j = 0; j < n; j++)
			if (!slots_same_endpoint(&got[j].u.sa, &first[j].u.sa)) {
				snprintf(err, errlen,
					 "inherited listeners of slot %d differ from slot 0's",
					 i);
				return -1;
			}
	}
	for (int i = 0; i < nslots; i++)
		for (int j = 0; j < n; j++) {
			int fd = fds[i * n + j];

			/* O_NONBLOCK is the socket's own; close-on-exec is
			 * this process's, and exec cleared it. */
			util_set_nonblock(fd);
			fcntl(fd, F_SETFD, FD_CLOEXEC);
			s->fd[i][j] = fd;
		}
	s->nslots = nslots;
	s->peak = UTIL_MAX(s->peak, nslots);
	return 0;
}

void slots_close_from(struct slots *s, int from)
{
	for (int i = from; i < s->nslots; i++)
		for (int j = 0; j < CFG_MAX_LISTEN; j++)
			if (s->fd[i][j] >= 0) {
				close(s->fd[i][j]);
				s->fd[i][j] = -1;
			}
	if (from < s->nslots)
		s->nslots = from;
}

void slots_close_all(struct slots *s)
{
	slots_close_from(s, 0);
	/* Stopping mid-reload: the removed columns are still s->re's. */
	if (s->re.active)
		slots_relisten_commit(s);
	slots_gone_close(s);
}

/* With TCP_DEFER_ACCEPT the kernel hands a connection to accept() only
 * once its first data has arrived (or the handshake is re-sent after secs
 * and then given anyway), and the worker reads it at once: one epoll
 * round less per connection where clients speak first (HTTP). The cost
 * falls on clients that connect and wait: they stay half-open meanwhile
 * (see defer_accept in reuseportd.conf(5)). */
void slots_configure(struct slots *s, int defer_secs, int backlog)
{
	s->backlog = backlog;
	for (int i = 0; i < s->nslots; i++)
		for (int j = 0; j < s->nlisten; j++)
			if (s->fd[i][j] >= 0) {
				setsockopt(s->fd[i][j], IPPROTO_TCP,
					   TCP_DEFER_ACCEPT, &defer_secs,
					   sizeof(defer_secs));
				listen(s->fd[i][j], backlog);
			}
}

/* A classic BPF program attached to the reuseport group picks the index
 * of the socket that gets a new connection (SO_ATTACH_REUSEPORT_CBPF in
 * socket(7)): index = live[hash % nlive], a jump table over the live
 * slots. A socket's index in the group is its order of listen(), which is
 * the slot order: listeners are closed before the master exits only at a
 * reload rolled back, and then only the newest ones, which keeps the
 * others' indexes (the kernel moves the last socket into a freed index;
 * see reuseport_detach_sock). */
static void slots_set_program(struct slots *s, const int *live, int nlive)
{
	struct sock_filter code[3 + 2 * CFG_MAX_WORKERS];
	struct sock_fprog prog = { 0, code };
	unsigned n = 0;

	code[n++] = (struct sock_filter){ BPF_LD | BPF_W | BPF_ABS, 0, 0,
					  (uint32_t)(SKF_AD_OFF + SKF_AD_RXHASH) };
	code[n++] = (struct sock_filter){ BPF_ALU | BPF_MOD | BPF_K, 0, 0,
					  (uint32_t)nlive };
	for (int i = 0; i < nlive; i++) {
		code[n++] = (struct sock_filter){ BPF_JMP | BPF_JEQ | BPF_K, 0,
						  1, (uint32_t)i };
		code[n++] = (struct sock_filter){ BPF_RET | BPF_K, 0, 0,
						  (uint32_t)live[i] };
	}
	code[n++] = (struct sock_filter){ BPF_RET | BPF_K, 0, 0,
					  (uint32_t)live[0] };
	prog.len = (unsigned short)n;
	for (int j = 0; j < s->nlisten; j++)
		if (setsockopt(s->fd[0][j], SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF,
			       &prog, sizeof(prog)) < 0)
			log_warn("steering to %d of %d listeners: %s; the others are still served, unevenly",
				 nlive, s->nslots, strerror(errno));
}

void slots_steer(struct slots *s, const int *live, int nlive, int total)
{
	int dummy = 0;

	if (s->nslots == 0 || !s->steering)
		return;
	total = UTIL_MAX(total, s->peak);
	if (nlive > 0 && (nlive < total || live[nlive - 1] != nlive - 1)) {
		slots_set_program(s, live, nlive);
		return;
	}
	/* Every slot live, or none (all workers down: the connections wait
	 * in whichever queue the kernel's hash picks). */
	for (int j = 0; j < s->nlisten; j++)
		setsockopt(s->fd[0][j], SOL_SOCKET, SO_DETACH_REUSEPORT_BPF,
			   &dummy, sizeof(dummy));
}

void slots_steer_first(struct slots *s, int n)
{
	int live[CFG_MAX_WORKERS];

	n = UTIL_MIN(n, s->nslots);
	if (n <= 0)
		return;
	for (int i = 0; i < n; i++)
		live[i] = i;
	slots_set_program(s, live, n);
}

int slots_fds_for(const struct slots *s, int i, int nworkers, int *fds)
{
	int n = 0;

	for (int k = i; k < s->nslots; k += nworkers)
		for (int j = 0; j < s->nlisten; j++)
			fds[n++] = s->fd[k][j];
	return n;
}

/* --- a reload that changes the listen addresses --- */

/* The column of cur[] (not taken yet) that a names, or -1. */
static int slots_find_column(const struct slots *s, const struct addr *cur,
			     const struct addr *a, const int *taken)
{
	int any = addr_port(&a->u.sa) == 0;

	for (int i = 0; i < s->nlisten; i++)
		if (!taken[i] &&
		    (any ? s->wild[i] && slots_same_ip(&cur[i].u.sa, &a->u.sa) :
			   slots_same_endpoint(&cur[i].u.sa, &a->u.sa)))
			return i;
	return -1;
}

int slots_relisten_plan(const struct slots *s, const struct addr *cur,
			struct addr *next, int n, int *from)
{
	int taken[CFG_MAX_LISTEN] = { 0 }, changed = n != s->nlisten;

	for (int j = 0; j < n; j++) {
		from[j] = slots_find_column(s, cur, &next[j], taken);
		changed |= from[j] != j;
		if (from[j] < 0)
			continue;
		taken[from[j]] = 1;
		next[j] = cur[from[j]];
	}
	return changed;
}

/* Listeners for the added column j in every open slot. */
static int slots_open_column(struct slots *s, int j, struct addr *a, char *err,
			     size_t errlen)
{
	s->wild[j] = addr_port(&a->u.sa) == 0;
	for (int i = 0; i < s->nslots; i++) {
		s->fd[i][j] = lst_open(a, s->backlog, err, errlen);
		if (s->fd[i][j] < 0 ||
		    slots_learn_port(s->fd[i][j], a, err, errlen) < 0)
			return -1;
	}
	return 0;
}

int slots_relisten(struct slots *s, struct addr *next, int n, const int *from,
		   char *err, size_t errlen)
{
	struct slots_relisten *re = &s->re;

	memcpy(re->fd, s->fd, sizeof(re->fd));
	memcpy(re->wild, s->wild, sizeof(re->wild));
	memcpy(re->from, from, (size_t)n * sizeof(*from));
	re->nlisten = s->nlisten;
	re->nslots = s->nslots;
	re->active = 1;
	for (int i = 0; i < s->nslots; i++)
		for (int j = 0; j < CFG_MAX_LISTEN; j++)
			s->fd[i][j] = j < n && from[j] >= 0 ? re->fd[i][from[j]] :
							      -1;
	for (int j = 0; j < n; j++)
		s->wild[j] = from[j] >= 0 ? re->wild[from[j]] : 0;
	s->nlisten = n;
	for (int j = 0; j < n; j++)
		if (from[j] < 0 &&
		    (slots_check_free(&next[j], 1, err, errlen) < 0 ||
		     slots_open_column(s, j, &next[j], err, errlen) < 0)) {
			slots_relisten_undo(s);
			return -1;
		}
	return 0;
}

void slots_relisten_undo(struct slots *s)
{
	struct slots_relisten *re = &s->re;

	if (!re->active)
		return;
	for (int i = 0; i < s->nslots; i++)
		for (int j = 0; j < s->nlisten; j++)
			if (re->from[j] < 0 && s->fd[i][j] >= 0)
				close(s->fd[i][j]);
	memcpy(s->fd, re->fd, sizeof(s->fd));
	memcpy(s->wild, re->wild, sizeof(s->wild));
	s->nlisten = re->nlisten;
	s->nslots = re->nslots;
	re->active = 0;
}

int slots_relisten_commit(struct slots *s)
{
	struct slots_relisten *re = &s->re;
	int kept[CFG_MAX_LISTEN] = { 0 };

	if (!re->active)
		return 0;
	re->active = 0;
	for (int j = 0; j < s->nlisten; j++)
		if (re->from[j] >= 0)
			kept[re->from[j]] = 1;
	slots_gone_close(s); /* none is left from an earlier reload */
	s->gone.nslots = re->nslots;
	for (int c = 0; c < re->nlisten; c++) {
		if (kept[c])
			continue;
		for (int i = 0; i < re->nslots; i++)
			s->gone.fd[i][s->gone.n] = re->fd[i][c];
		s->gone.n++;
	}
	return s->gone.n;
}

/* A classic BPF socket filter, run on every segment that reaches a
 * listener (tcp_filter in tcp_v4_rcv/tcp_v6_rcv: the data starts at the
 * TCP header, so byte 13 holds the flags): a SYN without ACK - a new
 * connection - is dropped, as if lost; everything else passes, so the
 * handshakes already under way complete (their ACK) and join the queue.
 * The client's SYN is re-sent after a second, and by then the listener
 * is closed and the kernel refuses it: ECONNREFUSED, never a reset of a
 * connection it had accepted. */
void slots_gone_block(struct slots *s)
{
	static struct sock_filter code[] = {
		{ BPF_LD | BPF_B | BPF_ABS, 0, 0, 13 },
		{ BPF_ALU | BPF_AND | BPF_K, 0, 0, 0x12 }, /* SYN | ACK */
		{ BPF_JMP | BPF_JEQ | BPF_K, 0, 1, 0x02 }, /* SYN alone */
		{ BPF_RET | BPF_K, 0, 0, 0 },
		{ BPF_RET | BPF_K, 0, 0, 0xffffffffu },
	};
	struct sock_fprog prog = { UTIL_ARRAY_LEN(code), code };

	for (int i = 0; i < s->gone.nslots; i++)
		for (int k = 0; k < s->gone.n; k++)
			if (s->gone.fd[i][k] >= 0 &&
			    setsockopt(s->gone.fd[i][k], SOL_SOCKET,
				       SO_ATTACH_FILTER, &prog, sizeof(prog)) < 0)
				log_warn("blocking new connections to a removed address: %s; those that come before it closes are reset",
					 strerror(errno));
}

/* For a listener, TCP_INFO's tcpi_unacked is its accept queue's length
 * (sk_ack_backlog; tcp_get_info in net/ipv4/tcp.c). */
int slots_gone_queued(const struct slots *s)
{
	int n = 0;

	for (int i = 0; i < s->gone.nslots; i++)
		for (int k = 0; k < s->gone.n; k++) {
			struct tcp_info ti;
			socklen_t len = sizeof(ti);

			if (s->gone.fd[i][k] < 0)
				continue;
			if (getsockopt(s->gone.fd[i][k], IPPROTO_TCP, TCP_INFO,
				       &ti, &len) < 0)
				return -1;
			n += (int)ti.tcpi_unacked;
		}
	return n;
}

void slots_gone_close(struct slots *s)
{
	for (int i = 0; i < s->gone.nslots; i++)
		for (int k = 0; k < s->gone.n; k++)
			if (s->gone.fd[i][k] >= 0) {
				close(s->gone.fd[i][k]);
				s->gone.fd[i][k] = -1;
			}
	s->gone.n = s->gone.nslots = 0;
}
