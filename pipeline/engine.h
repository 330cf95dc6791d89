/*
 * engine.h: turns a loaded configuration into running pipelines and keeps
 * them running: start (exporters first, receivers last), the hand-off from
 * receivers through processors to every exporter, SIGHUP reload (the new
 * graph is built completely first; unchanged components and their queued
 * data carry over; an invalid file changes nothing), and shutdown on
 * SIGTERM/SIGINT (receivers first, then queues drained within
 * shutdown_timeout; a persistent queue keeps what is left).
 */
#ifndef PROFCOL_ENGINE_H
#define PROFCOL_ENGINE_H

/* Runs until a shutdown signal. Returns the process exit code. */
int engine_run(const char *config_path);

#endif
