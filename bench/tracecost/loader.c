/*
 * Loads a BPF object, attaches every program in it, drains its ring buffer `events` (if any)
 * every 20 ms as the daemon does, and on SIGINT or SIGTERM prints, per program, the kernel's
 * run statistics (kernel.bpf_stats_enabled must be 1):
 *   PROGRAM runs=N run_ns=T recursion_misses=M
 * For bench/tracecost.sh. Prints "attached" once all programs are attached.
 *   loader OBJECT
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_signal(int signo)
{
	(void)signo;
	stop = 1;
}

static int on_record(void *ctx, void *data, size_t size)
{
	(void)ctx;
	(void)data;
	(void)size;
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: loader OBJECT\n");
		return 2;
	}
	struct bpf_object *obj = bpf_object__open_file(argv[1], NULL);
	if (!obj || bpf_object__load(obj)) {
		fprintf(stderr, "loader: cannot load %s\n", argv[1]);
		return 1;
	}
	struct bpf_program *p;
	bpf_object__for_each_program(p, obj) {
		if (!bpf_program__attach(p)) {
			fprintf(stderr, "loader: cannot attach %s\n", bpf_program__name(p));
			return 1;
		}
	}
	struct bpf_map *events = bpf_object__find_map_by_name(obj, "events");
	struct ring_buffer *ring = events ? ring_buffer__new(bpf_map__fd(events), on_record, NULL, NULL) : NULL;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	printf("attached\n");
	fflush(stdout);
	while (!stop) {
		if (ring)
			ring_buffer__consume(ring);
		usleep(20000);
	}
	bpf_object__for_each_program(p, obj) {
		struct bpf_prog_info info = {};
		__u32 length = sizeof(info);
		if (bpf_obj_get_info_by_fd(bpf_program__fd(p), &info, &length) == 0)
			printf("%s runs=%llu run_ns=%llu recursion_misses=%llu\n", bpf_program__name(p),
			       (unsigned long long)info.run_cnt, (unsigned long long)info.run_time_ns,
			       (unsigned long long)info.recursion_misses);
	}
	ring_buffer__free(ring);
	bpf_object__close(obj);
	return 0;
}
