/* launchctl (simulated): the launchctl verbs clawfleet uses, for the one gateway service of a
 * simulated Mac, whose ProgramArguments are sim/gateway.cmd (one per line).
 *
 *   launchctl kickstart [-k] <service-target>   start it unless running; -k stops it first
 *   launchctl print <service-target>            launchd-like description of the service
 *   launchctl bootout <service-target>          stop it
 *
 * service-target is gui/<uid>/<label>, user/<uid>/<label> or system/<label>; any label names the
 * simulated service. Exit codes as launchctl's: 113 when the service is not installed (no
 * sim/gateway.cmd), 64 for usage errors.
 *
 * As launchd does, a supervisor stays the gateway's parent for its whole life: it records the start
 * (pid, runs, restarts) and the exit status in sim/gateway.state and reaps the gateway, so a dead
 * gateway never lingers as a zombie. kickstart returns once the gateway has survived
 * CRASH_WINDOW_MS or has exited, so a crash is in the state when it returns. No KeepAlive: a
 * gateway that exits stays down. print reports the last run's end as launchd does: "last exit
 * code = N" after an exit, "last terminating signal = Killed: 9" (macOS's name of the signal,
 * then its number) in its place after a death by signal, "(never exited)" before either; the
 * state file records a death by signal N as exit status 128+N and the signal. */
#include <poll.h>
#include <sys/wait.h>

#include "simstate.h"

#define EXIT_USAGE 64
#define EXIT_NO_SERVICE 113
#define CRASH_WINDOW_MS 300
#define STARTED_WAIT_MS 2000
#define STOP_GRACE_MS 2000
#define KILL_WAIT_MS 1000

static void usage(void)
{
	fprintf(stderr, "Usage: launchctl kickstart [-k] <service-target>\n"
			"       launchctl print <service-target>\n"
			"       launchctl bootout <service-target>\n");
}

/* The label of a service target, or NULL when target is not one. */
static const char *target_label(const char *target)
{
	const char *rest;
	if (strncmp(target, "system/", 7) == 0) {
		rest = target + 7;
	} else if (strncmp(target, "gui/", 4) == 0 || strncmp(target, "user/", 5) == 0) {
		rest = strchr(target, '/') + 1;
		size_t digits = strspn(rest, "0123456789");
		if (digits == 0 || rest[digits] != '/')
			return NULL;
		rest += digits + 1;
	} else {
		return NULL;
	}
	return *rest && !strchr(rest, '/') ? rest : NULL;
}

static void write_pid_file(pid_t pid)
{
	char text[32];
	snprintf(text, sizeof(text), "%d\n", (int)pid);
	sim_write_text("gateway.pid", text);
}

static void remove_pid_file(void)
{
	char path[PATH_MAX];
	unlink(sim_path(path, sizeof(path), "gateway.pid"));
}

static void record_start(pid_t pid)
{
	struct sim_gw_state st;
	int lock = sim_lock("gateway.lock");
	if (lock < 0)
		return;
	if (sim_gw_load(&st) == 0) {
		st.running = true;
		st.pid = pid;
		st.runs++;
		if (st.nrestarts == SIM_RESTARTS_MAX) {
			memmove(st.restarts, st.restarts + 1, sizeof(st.restarts[0]) * (SIM_RESTARTS_MAX - 1));
			st.nrestarts--;
		}
		st.restarts[st.nrestarts++] = sim_now_ms() / 1000;
		if (sim_gw_save(&st) == 0)
			write_pid_file(pid);
	}
	close(lock);
}

/* Only the run that is still recorded may be marked stopped: a newer one may have started. */
static void record_exit(pid_t pid, bool known, int status, int sig)
{
	struct sim_gw_state st;
	int lock = sim_lock("gateway.lock");
	if (lock < 0)
		return;
	if (sim_gw_load(&st) == 0 && st.running && st.pid == pid) {
		st.running = false;
		if (known) {
			st.has_exit = true;
			st.last_exit = status;
			st.last_signal = sig;
		}
		if (sim_gw_save(&st) == 0)
			remove_pid_file();
	}
	close(lock);
}

static int exit_status(const siginfo_t *si)
{
	return si->si_code == CLD_EXITED ? si->si_status : 128 + si->si_status;
}

static int exit_signal(const siginfo_t *si)
{
	return si->si_code == CLD_EXITED ? 0 : si->si_status;
}

/* What macOS's strsignal calls a signal, without the ": N" it appends: launchd prints that. By
 * name, since the numbers differ between Linux and macOS beyond the first few. */
static const char *macos_signal_name(int sig)
{
	static const struct {
		int sig;
		const char *name;
	} names[] = {
		{SIGHUP, "Hangup"},
		{SIGINT, "Interrupt"},
		{SIGQUIT, "Quit"},
		{SIGILL, "Illegal instruction"},
		{SIGTRAP, "Trace/BPT trap"},
		{SIGABRT, "Abort trap"},
		{SIGFPE, "Floating point exception"},
		{SIGKILL, "Killed"},
		{SIGBUS, "Bus error"},
		{SIGSEGV, "Segmentation fault"},
		{SIGSYS, "Bad system call"},
		{SIGPIPE, "Broken pipe"},
		{SIGALRM, "Alarm clock"},
		{SIGTERM, "Terminated"},
		{SIGUSR1, "User defined signal 1"},
		{SIGUSR2, "User defined signal 2"},
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].sig == sig)
			return names[i].name;
	return "Unknown signal";
}

/* Closes every descriptor from 3 up but keep: nothing of the caller's may stay open (a test's
 * $(...) pipe would never see EOF). Plain POSIX: every number up to the limit. */
static void close_others(int keep)
{
	long max = sysconf(_SC_OPEN_MAX);
	if (max < 0)
		max = 1024;
	for (int fd = 3; fd < max; fd++)
		if (fd != keep)
			close(fd);
}

/* The supervisor: detaches, runs the gateway and outlives it; never returns. Closing `started`
 * tells kickstart the crash window is over. The exit is recorded before the gateway is reaped
 * (WNOWAIT), so whoever sees the pid vanish also finds the exit in gateway.state. */
static void supervise(char **argv, int started)
{
	char out[PATH_MAX];
	siginfo_t si;
	setsid();
	int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	int log = open(sim_path(out, sizeof(out), "gateway.out"),
		       O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (null < 0 || log < 0 || dup2(null, 0) < 0 || dup2(log, 1) < 0 || dup2(log, 2) < 0)
		_exit(1);
	close_others(started);
	/* Held until this process ends (close-on-exec: the gateway does not inherit it), so that
	 * sim_gateway_alive knows a supervisor is there to record the gateway's end. */
	if (sim_lock(SIM_GW_SUPERVISOR) < 0)
		_exit(1);
	pid_t pid = fork();
	if (pid < 0)
		_exit(1);
	if (pid == 0) {
		execvp(argv[0], argv);
		fprintf(stderr, "launchctl (simulated): exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	record_start(pid);
	long long deadline = sim_mono_ms() + CRASH_WINDOW_MS;
	bool exited = false;
	while (!exited && sim_mono_ms() < deadline) {
		memset(&si, 0, sizeof(si));
		exited = waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
			 si.si_pid == pid;
		if (!exited)
			sim_sleep_ms(10);
	}
	if (!exited) {
		close(started);
		/* From here the supervisor lives as long as the gateway: unbounded by design. */
		memset(&si, 0, sizeof(si));
		while (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT) < 0 && errno == EINTR)
			;
	}
	record_exit(pid, si.si_pid == pid, exit_status(&si), exit_signal(&si));
	waitpid(pid, NULL, 0);
	_exit(0);
}

static int start(char **argv)
{
	int fds[2];
	if (pipe(fds) < 0 || fcntl(fds[0], F_SETFD, FD_CLOEXEC) < 0 ||
	    fcntl(fds[1], F_SETFD, FD_CLOEXEC) < 0) {
		perror("launchctl (simulated): pipe");
		return -1;
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		perror("launchctl (simulated): fork");
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		close(fds[0]);
		supervise(argv, fds[1]);
	}
	close(fds[1]);
	struct pollfd p = {.fd = fds[0], .events = POLLIN};
	while (poll(&p, 1, STARTED_WAIT_MS) < 0 && errno == EINTR)
		;
	close(fds[0]);
	return 0;
}

/* Gone once reaped, or once its supervisor recorded the exit (it may still be a zombie then). */
static bool wait_stopped(pid_t pid, long ms)
{
	struct sim_gw_state st;
	long long deadline = sim_mono_ms() + ms;
	for (;;) {
		if (kill(pid, 0) < 0 && errno == ESRCH)
			return true;
		if (sim_gw_load(&st) == 0 && !(st.running && st.pid == pid))
			return true;
		if (sim_mono_ms() >= deadline)
			return false;
		sim_sleep_ms(10);
	}
}

/* SIGTERM, then SIGKILL after STOP_GRACE_MS, as launchd does at its exit timeout. */
static void stop(void)
{
	struct sim_gw_state st;
	if (sim_gw_load(&st) < 0 || !st.running)
		return;
	pid_t pid = st.pid;
	if (sim_gateway_alive(pid)) {
		kill(pid, SIGTERM);
		if (!wait_stopped(pid, STOP_GRACE_MS)) {
			kill(pid, SIGKILL);
			wait_stopped(pid, KILL_WAIT_MS);
		}
	}
	/* A gateway whose supervisor is gone had nobody to record its end. */
	record_exit(pid, false, 0, 0);
}

static void print_service(const char *target, const char *label, int argc, char **argv)
{
	struct sim_gw_state st;
	char out[PATH_MAX];
	bool daemon = strncmp(target, "system/", 7) == 0;
	if (sim_gw_load(&st) < 0)
		memset(&st, 0, sizeof(st));
	bool running = st.running && sim_gateway_alive(st.pid);
	printf("%s = {\n", target);
	printf("\tactive count = %d\n", running);
	printf("\tpath = %s%s/%s.plist\n", daemon ? "" : getenv("OPENCLAW_SIM_ROOT"),
	       daemon ? "/Library/LaunchDaemons" : "/Library/LaunchAgents", label);
	printf("\ttype = %s\n", daemon ? "LaunchDaemon" : "LaunchAgent");
	printf("\tstate = %s\n\n", running ? "running" : "not running");
	printf("\tprogram = %s\n\targuments = {\n", argv[0]);
	for (int i = 0; i < argc; i++)
		printf("\t\t%s\n", argv[i]);
	printf("\t}\n\n");
	sim_path(out, sizeof(out), "gateway.out");
	printf("\tstdout path = %s\n\tstderr path = %s\n", out, out);
	printf("\truns = %d\n", st.runs);
	if (running)
		printf("\tpid = %d\n", (int)st.pid);
	if (st.has_exit && st.last_signal)
		printf("\tlast terminating signal = %s: %d\n", macos_signal_name(st.last_signal),
		       st.last_signal);
	else if (st.has_exit)
		printf("\tlast exit code = %d\n", st.last_exit);
	else
		printf("\tlast exit code = (never exited)\n");
	printf("}\n");
}

static int run(const char *verb, bool kill_first, const char *target, const char *label)
{
	char *text = NULL, *argv[SIM_CMD_MAX_ARGS + 1];
	struct sim_gw_state st;
	int rc = 1, lock = -1;
	int argc = sim_gw_cmd(&text, argv);
	if (argc < 0)
		goto done;
	if (argc == 0) {
		fprintf(stderr, "Could not find service \"%s\" in domain for port\n", label);
		rc = EXIT_NO_SERVICE;
		goto done;
	}
	if (strcmp(verb, "print") == 0) {
		print_service(target, label, argc, argv);
		rc = 0;
		goto done;
	}
	/* One kickstart or bootout at a time, as launchd serialises them. */
	lock = sim_lock("launchctl.lock");
	if (lock < 0)
		goto done;
	if (strcmp(verb, "bootout") == 0 || kill_first)
		stop();
	if (strcmp(verb, "kickstart") == 0) {
		if (sim_gw_load(&st) < 0)
			goto done;
		if (!(st.running && sim_gateway_alive(st.pid)) && start(argv) < 0)
			goto done;
	}
	rc = 0;
done:
	if (lock >= 0)
		close(lock);
	free(text);
	return rc;
}

int main(int argc, char **argv)
{
	if (sim_open("launchctl", NULL, argc, argv) < 0)
		return SIM_EXIT_HARNESS;
	if (argc < 2) {
		usage();
		return EXIT_USAGE;
	}
	const char *verb = argv[1];
	if (strcmp(verb, "kickstart") && strcmp(verb, "print") && strcmp(verb, "bootout")) {
		fprintf(stderr, "Unrecognized subcommand: %s\n", verb);
		usage();
		return EXIT_USAGE;
	}
	int i = 2;
	bool kill_first = strcmp(verb, "kickstart") == 0 && i < argc && strcmp(argv[i], "-k") == 0;
	if (kill_first)
		i++;
	if (i != argc - 1) {
		usage();
		return EXIT_USAGE;
	}
	const char *label = target_label(argv[i]);
	if (!label) {
		fprintf(stderr, "Unrecognized target specifier.\n");
		usage();
		return EXIT_USAGE;
	}
	return run(verb, kill_first, argv[i], label);
}
