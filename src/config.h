/* config.h - the daemon's settings: defaults, setters that validate, and
 * the finishing step that fills in what was left to the machine. */
#ifndef RP_CONFIG_H
#define RP_CONFIG_H

#include <stddef.h>
#include <sys/un.h>

#include "addr.h"

#define CFG_MAX_LISTEN 16
#define CFG_MAX_WORKERS 256
#define CFG_DEFAULT_LISTEN "0.0.0.0:8080"
#define CFG_DEFAULT_STATS_SOCKET "reuseportd.sock"

enum cfg_protocol { CFG_PROTO_ECHO, CFG_PROTO_HTTP };

struct config {
	struct addr listen[CFG_MAX_LISTEN];
	int nlisten;
	int workers; /* 0 until config_finish: "auto" */
	enum cfg_protocol protocol;
	char stats_socket[sizeof(((struct sockaddr_un *)0)->sun_path)];
	unsigned stats_socket_mode;
	int foreground;
	int log_level;
	int backlog;         /* 0: net.core.somaxconn */
	int max_connections; /* per worker; 0: derived from RLIMIT_NOFILE */
	int stats_timeout_ms;   /* how long the master waits for workers */
	int shutdown_timeout_ms;
};

void config_defaults(struct config *c);
/* Setters return 0, or -1 with a one-line reason in err. */
int config_add_listen(struct config *c, const char *s, char *err, size_t errlen);
int config_set_workers(struct config *c, const char *s, char *err, size_t errlen);
int config_set_protocol(struct config *c, const char *s, char *err, size_t errlen);
int config_set_stats_socket(struct config *c, const char *s, char *err, size_t errlen);
/* Defaults for what is still unset (listen address, worker count). */
int config_finish(struct config *c, char *err, size_t errlen);
const char *config_protocol_name(enum cfg_protocol p);

#endif
