#ifndef HERALD_CTL_H
#define HERALD_CTL_H

/*
 * heraldctl's commands, a thin CLI over store/store.h: each ctl_<command>
 * is a cli_subcommand run function (workers/heraldctl/cli.h). ctx is the program's
 * const herald_common_config * (database URL, secret key, Slack API URL);
 * argv holds the words after the command name. Returns the exit code: 0
 * done; 1 the database, Slack or the current state said no; 2 usage (a bad
 * flag or value, named in one line on stderr). Tokens are never printed.
 */

int ctl_migrate(void *ctx, int argc, char **argv);

int ctl_workspace_add(void *ctx, int argc, char **argv);
int ctl_workspace_list(void *ctx, int argc, char **argv);
int ctl_workspace_remove(void *ctx, int argc, char **argv);
int ctl_workspace_share(void *ctx, int argc, char **argv);
int ctl_workspace_unshare(void *ctx, int argc, char **argv);

int ctl_target_add(void *ctx, int argc, char **argv);
int ctl_target_list(void *ctx, int argc, char **argv);
int ctl_target_show(void *ctx, int argc, char **argv);
int ctl_target_update(void *ctx, int argc, char **argv);
int ctl_target_remove(void *ctx, int argc, char **argv);

int ctl_deliveries(void *ctx, int argc, char **argv);

int ctl_silence_add(void *ctx, int argc, char **argv);
int ctl_silence_list(void *ctx, int argc, char **argv);
int ctl_silence_show(void *ctx, int argc, char **argv);
int ctl_silence_expire(void *ctx, int argc, char **argv);

int ctl_test(void *ctx, int argc, char **argv);

int ctl_token_create(void *ctx, int argc, char **argv);
int ctl_token_list(void *ctx, int argc, char **argv);
int ctl_token_revoke(void *ctx, int argc, char **argv);

int ctl_stats_rebuild(void *ctx, int argc, char **argv);
int ctl_prune(void *ctx, int argc, char **argv);

int ctl_remediation_list(void *ctx, int argc, char **argv);
int ctl_remediation_set(void *ctx, int argc, char **argv);
int ctl_remediation_reset(void *ctx, int argc, char **argv);

int ctl_secrets_rotate(void *ctx, int argc, char **argv);

int ctl_tenant_actions(void *ctx, int argc, char **argv);
int ctl_tenant_show(void *ctx, int argc, char **argv);

#endif
