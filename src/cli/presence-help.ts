/** The examples each presence command's --help ends with. */
export const PresenceExamples = {
  status: `
Examples:
  presence status --uri mongodb://127.0.0.1:27017/app
  presence status --minutes 60 --json
  presence status --format prometheus > /var/lib/node_exporter/presence.prom
  presence status --online-field status --offline-value offline --online-values online,away`,
  cleanup: `
Examples:
  presence cleanup --dry-run                          who would be set offline, nothing written
  presence cleanup                                    everyone offline (after a crash or restart)
  presence cleanup --batch-size 200 --rate 1000       gentler on a busy server
  presence restore <runId>                            undo it (printed at the end of the run)`,
  stale: `
Examples:
  presence stale --dry-run                            who is inactive > 30 min; nothing written
  presence stale --minutes=60                         offline after an hour without activity
  presence stale --minutes=60 --scheduled --interval=15
                                                      a run every 15 minutes until Ctrl-C or SIGTERM
                                                      (the old cleanup-stale-sessions.js flags, unchanged)
  presence stale --yes --expect 500 --tolerance 500   on production from cron: refuse more than 1,000 at once
                                                      (a bare % in a crontab line is a newline: write 100\\%)
  presence restore <runId>                            undo a run (its id is printed at the end)`,
  test: `
Examples:
  presence test                                       the health check, as a table
  presence test --json                                for a cron job or a monitor
  0 3 * * * presence test --uri "$MONGODB_URI" || mail -s "presence health" ops@example.com`,
  reconcile: `
Examples:
  export PRESENCE_CONNECTED_TOKEN=…                   the endpoint's token (never a flag: ps shows flags)
  presence reconcile --connected http://127.0.0.1:3000/presence --dry-run
                                                      the ghosts, from who is really connected; nothing written
  presence reconcile --connected-redis redis://127.0.0.1:6379 --fix-missing
                                                      through the deployment's Redis adapter; connected users
                                                      shown offline set online too
  presence reconcile --connected-redis redis://127.0.0.1:6379 --scheduled --interval=5
  presence restore <runId>                            undo a run (its id is printed at the end)`,
  demo: `
Examples:
  presence demo                                       everything, on a throw-away embedded database
  npm run demo`,
  dashboard: `
Examples:
  presence dashboard                                  http://127.0.0.1:8080 against $MONGODB_URI
  presence dashboard --port 0 --connected http://app:3000/presence
                                                      any free port; ghosts against who is connected
  PRESENCE_DASHBOARD_TOKEN=... presence dashboard --host 0.0.0.0
                                                      reachable from other machines: the token is required

Binds 127.0.0.1 unless told otherwise; writes nothing to your data (only a presence sample a minute
to presence_samples); offers no action. Ctrl-C stops it.`,
} as const;
