/* config.h - the daemon's settings: defaults, setters that validate, and
 * the finishing step that fills in what was left to the machine. */
#ifndef RP_CONFIG_H
#define RP_CONFIG_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/un.h>

#include "addr.h"

struct mime_table;

#define CFG_MAX_LISTEN 16
#define CFG_MAX_WORKERS 256
#define CFG_DEFAULT_LISTEN "0.0.0.0:8080"
#define CFG_DEFAULT_STATS_SOCKET "reuseportd.sock"
/* Open-file cache entries per worker (README, "The open-file cache"). */
#define CFG_OPEN_FILE_CACHE 1000

/* Virtual hosts: at most this many, their docroots together at most
 * CFG_VHOST_PATHS bytes. They are kept apart from struct config, which
 * is copied by value (a reload keeps the previous one, on the stack and
 * in static storage): inside it, the room for them made every copy
 * 130 KiB larger, and every worker the master forked carried the pages
 * (config_vhosts_keep). */
#define CFG_MAX_VHOSTS 256
#define CFG_VHOST_NAME_MAX 253
#define CFG_VHOST_PATHS (64 * 1024)

enum cfg_protocol {
	CFG_PROTO_ECHO,
	CFG_PROTO_HTTP,
	CFG_PROTO_TCP_PROXY,
	CFG_PROTO_HTTP_PROXY
};
/* A protocol that connects to upstream servers (config_proxy.c). */
static inline int config_is_proxy(enum cfg_protocol p)
{
	return p == CFG_PROTO_TCP_PROXY || p == CFG_PROTO_HTTP_PROXY;
}

/* The TCP proxy (config_proxy.c): its servers and the local addresses
 * its connections to them leave from. */
#define CFG_MAX_UPSTREAMS 32
#define CFG_MAX_PROXY_SOURCES 16
/* Addresses in one proxy_source range, at most. */
#define CFG_PROXY_SOURCE_SPAN 65536

/* "upstream ADDR:PORT [weight=N] [max_fails=N] [fail_timeout=T]" */
struct cfg_upstream {
	struct addr addr;
	int weight;          /* 1..1000: its share of the connections */
	int max_fails;       /* consecutive failed connects that mark it
			      * down; 0: never marked down */
	int fail_timeout_ms; /* how long it stays down */
	int line;            /* of the config file (0: elsewhere) */
};

/* "proxy_source ADDR[-ADDR]": count addresses from first on (an IPv6
 * range varies in its last 32 bits only). */
struct cfg_source {
	union addr_sa first;
	uint32_t count;
};

/* proxy_port_range: off (the kernel's ip_local_port_range for every
 * socket), auto (that range, a slice per worker), or LO-HI (a slice of
 * this one per worker), given to each upstream socket with
 * IP_LOCAL_PORT_RANGE. */
enum cfg_port_range { CFG_PORTS_OFF, CFG_PORTS_AUTO, CFG_PORTS_RANGE };

/* balance: which server takes the next connection (upstream.h). */
enum cfg_balance { CFG_BALANCE_RR, CFG_BALANCE_LEAST_CONN, CFG_BALANCE_HASH };

/* health_check: none, a TCP connect, or an HTTP GET of health_path. */
enum cfg_health { CFG_HEALTH_OFF, CFG_HEALTH_TCP, CFG_HEALTH_HTTP };
#define CFG_HEALTH_PATH_MAX 256

/* proxy_protocol: the PROXY header sent to the server first (HAProxy's
 * send-proxy, send-proxy-v2). */
enum cfg_proxy_protocol { CFG_PP_OFF, CFG_PP_V1, CFG_PP_V2 };

/* "vhost NAME DOCROOT": requests whose host is NAME get files from
 * DOCROOT. */
struct cfg_vhost {
	/* Lower case, no final dot: "example.org", "[::1]", or a wildcard
	 * "*.example.org" that any subdomain of example.org matches. */
	char name[CFG_VHOST_NAME_MAX + 1];
	unsigned root; /* its docroot: an offset in vhost_paths */
	int line;      /* of the config file, for messages (0: elsewhere) */
	/* Its request counter (stats.h); -1 until the master assigns one. */
	int stat_slot;
};

enum cfg_log { CFG_LOG_STDERR, CFG_LOG_SYSLOG, CFG_LOG_FILE };

enum cfg_access_log { CFG_ALOG_OFF, CFG_ALOG_FILE, CFG_ALOG_SYSLOG };
enum cfg_access_log_format { CFG_ALOG_COMBINED, CFG_ALOG_JSON };

struct config {
	/* service */
	struct addr listen[CFG_MAX_LISTEN];
	int nlisten;
	/* The config file line each listen address was given on (0: the
	 * command line or the default), for "duplicate ... (first at line
	 * N)"; cfgfile.c records it. */
	int listen_line[CFG_MAX_LISTEN];
	int workers; /* 0 until config_finish: "auto" */
	enum cfg_protocol protocol;
	int backlog;         /* 0: net.core.somaxconn */
	int max_connections; /* per worker; 0: derived from RLIMIT_NOFILE */
	long rlimit_nofile;  /* 0: raise the soft limit to the hard one */
	int cpu_affinity;    /* 1: pin worker i to CPU i mod ncpu */
	int idle_yield;      /* 1: workers yield once before sleeping */
	/* TCP_DEFER_ACCEPT seconds: -1 auto (1 for http, 0 for echo), 0 off */
	int defer_accept_s;
	/* Connections per client address in each worker (peers.h); 0: off */
	int max_connections_per_ip;

	/* TCP proxy (protocol tcp_proxy) */
	struct cfg_upstream upstreams[CFG_MAX_UPSTREAMS];
	int nupstreams;
	struct cfg_source proxy_sources[CFG_MAX_PROXY_SOURCES];
	int nproxy_sources;
	int proxy_connect_timeout_ms;
	int proxy_idle_timeout_ms; /* 0: none */
	unsigned proxy_buffer;     /* bytes in flight per direction, at most */
	enum cfg_port_range proxy_port_range;
	int proxy_port_lo, proxy_port_hi; /* CFG_PORTS_RANGE */
	/* HTTP proxy (protocol http_proxy): idle upstream connections kept
	 * per server and worker (0: none), how long one is kept, and how
	 * long the proxy waits for the upstream's response bytes. */
	int proxy_pool;
	int proxy_pool_timeout_ms;
	int proxy_read_timeout_ms;
	enum cfg_balance balance;
	enum cfg_proxy_protocol proxy_protocol;
	/* Active health checks (health.h): what, how often, how long one
	 * may take, and how many results in a row change a server's state. */
	enum cfg_health health_check;
	char health_path[CFG_HEALTH_PATH_MAX]; /* CFG_HEALTH_HTTP: "/..." */
	int health_interval_ms, health_timeout_ms;
	int health_rise, health_fall;

	/* HTTP */
	char docroot[PATH_MAX]; /* empty: serve the fixed response */
	int return_status;      /* fixed response, e.g. 200 */
	char return_body[1024];
	int has_return;
	size_t http_max_request_line, http_max_header_bytes;
	unsigned http_max_headers;
	unsigned long long http_max_body;
	enum cfg_access_log access_log; /* http: a line per request */
	char access_log_file[PATH_MAX];
	enum cfg_access_log_format access_log_format;
	/* NULL, or room for CFG_MAX_VHOSTS, nvhosts used; copies of the
	 * config share them. */
	struct cfg_vhost *vhosts;
	int nvhosts;
	char *vhost_paths; /* NUL-terminated docroots, CFG_VHOST_PATHS room */
	unsigned vhost_paths_len;
	/* Content-Types (mime.h): the mime.types file ("": off, the built-in
	 * table), the type of names without a known extension, the charset
	 * text types are sent with ("": off). */
	char mime_types[PATH_MAX];
	char default_type[128];
	char charset[64];
	int precompressed; /* 1: send x.br / x.gz for x when accepted */
	/* The open-file cache (http_fcache.h): entries per worker (0: off),
	 * how long one is trusted before a check, and how long an unused
	 * one is kept, in milliseconds. */
	int open_file_cache;
	int open_file_cache_valid_ms;
	int open_file_cache_inactive_ms;
	/* Bytes of small files' contents each worker's cache keeps (0: none):
	 * a hot file's answer then needs no read either. */
	unsigned long long open_file_cache_content;
	/* Built from those three when the master loads the configuration
	 * (main.c), and freed once no configuration it keeps refers to it
	 * (master.c); NULL: the workers build the built-in table. */
	const struct mime_table *mime;

	/* timeouts, milliseconds */
	int header_timeout_ms;
	int keepalive_timeout_ms;
	int send_timeout_ms;
	int shutdown_timeout_ms;
	int handover; /* 1: a reload moves idle connections to the new workers */
	int watchdog_timeout_ms;
	int stats_timeout_ms; /* how long the master waits for workers */

	/* operations */
	char stats_socket[sizeof(((struct sockaddr_un *)0)->sun_path)];
	unsigned stats_socket_mode;
	char stats_socket_group[64];
	char pidfile[PATH_MAX];
	char user[64], group[64];
	enum cfg_log log;
	char log_file[PATH_MAX];
	int log_level;
	int foreground;
	int test_only; /* -t */
	char config_file[PATH_MAX];
	struct addr metrics_listen; /* Prometheus endpoint; len 0: off */
	/* Relative paths are taken from here (empty: the working directory
	 * at config_finish); a reload in the detached master, whose working
	 * directory is "/", sets it to where the daemon was started. */
	char base_dir[PATH_MAX];
};

void config_defaults(struct config *c);
/* Setters return 0, or -1 with a one-line reason in err. */
/* Adds the address s stands for: "IP:PORT" (addr.h), or "NAME:PORT",
 * every address the name resolves to (addr_resolve). An address already
 * there is refused: "duplicate listen address 0.0.0.0:8080 (first at
 * line 3)". */
int config_add_listen(struct config *c, const char *s, char *err, size_t errlen);
/* Writes a reason into err (errlen bytes) and returns -1: how every
 * setter fails. */
int config_fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The TCP proxy's directives (config_proxy.c), 0 or -1 with a reason. */
int config_add_upstream(struct config *c, const char *s, char *err, size_t errlen);
int config_add_proxy_source(struct config *c, const char *s, char *err,
			    size_t errlen);
int config_set_proxy_port_range(struct config *c, const char *s, char *err,
				size_t errlen);
int config_set_proxy_pool(struct config *c, const char *s, char *err,
			  size_t errlen);
int config_set_proxy_pool_timeout(struct config *c, const char *s, char *err,
				  size_t errlen);
int config_set_proxy_read_timeout(struct config *c, const char *s, char *err,
				  size_t errlen);
int config_set_balance(struct config *c, const char *s, char *err, size_t errlen);
int config_set_proxy_protocol(struct config *c, const char *s, char *err,
			      size_t errlen);
/* "off", "tcp" or "http PATH". */
int config_set_health_check(struct config *c, const char *s, char *err,
			    size_t errlen);
int config_set_health_interval(struct config *c, const char *s, char *err,
			       size_t errlen);
int config_set_health_timeout(struct config *c, const char *s, char *err,
			      size_t errlen);
int config_set_health_rise(struct config *c, const char *s, char *err,
			   size_t errlen);
int config_set_health_fall(struct config *c, const char *s, char *err,
			   size_t errlen);
/* What config_finish checks of them: protocol tcp_proxy or http_proxy
 * has an upstream, each upstream has a proxy_source of its family (when there are any),
 * and health_timeout is no longer than health_interval. "FILE:LINE: "
 * leads a message about one upstream line. */
int config_finish_proxy(const struct config *c, char *err, size_t errlen);
/* Address k (< src->count) of a proxy_source range. */
void config_source_addr(const struct cfg_source *src, uint32_t k,
			union addr_sa *out);
/* Forgets the listen addresses (the command line's replace the file's). */
void config_clear_listen(struct config *c);
int config_set_workers(struct config *c, const char *s, char *err, size_t errlen);
int config_set_protocol(struct config *c, const char *s, char *err, size_t errlen);
int config_set_stats_socket(struct config *c, const char *s, char *err,
			    size_t errlen);
/* Defaults for what is still unset (listen address, worker count);
 * relative paths made absolute. */
int config_finish(struct config *c, char *err, size_t errlen);
const char *config_protocol_name(enum cfg_protocol p);
/* The docroot of vhost i (absolute after config_finish). */
const char *config_vhost_docroot(const struct config *c, int i);
/* Frees the vhost tables of every configuration parsed in this process
 * but a and b (either may be NULL): those two may still be used. */
void config_vhosts_keep(const struct config *a, const struct config *b);
/* TCP_DEFER_ACCEPT seconds for the listeners (defer_accept, or its auto
 * value for the protocol); 0: off. */
int config_defer_accept(const struct config *c);

/* --- directives: the settings by name, shared by the config file and
 * the command line --- */

typedef int (*config_setter)(struct config *c, const char *value, char *err,
			     size_t errlen);

struct config_directive {
	const char *name;
	int max_args;   /* values on one line; more than 1: joined with ' ' */
	int repeatable; /* may appear more than once (listen) */
	config_setter set;
};

/* The directive called name, or NULL. */
const struct config_directive *config_directive_find(const char *name);
/* The i-th directive, or NULL past the last one. */
const struct config_directive *config_directive_at(size_t i);
/* Sets one directive from its value: 0, or -1 with "name: reason". */
int config_set(struct config *c, const char *name, const char *value, char *err,
	       size_t errlen);

/* "10s", "500ms", "2m", "1h", "1m30s"; a bare number is seconds.
 * 0, or -1 if malformed or above max_ms. */
int config_parse_duration(const char *s, long long max_ms, long long *ms);
/* "512", "16k", "1m", "1g" (powers of 1024). 0, or -1. */
int config_parse_size(const char *s, unsigned long long *bytes);

#endif
