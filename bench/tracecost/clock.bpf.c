// SPDX-License-Identifier: GPL-2.0
/*
 * The second floor of bench/tracecost.sh: what any program that times states must do at every
 * change, read the clock (bpf_ktime_get_ns) and keep the reading (one per-CPU counter).
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

struct sock;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} last SEC(".maps");

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(on_state, const struct sock *sk, const int oldstate, const int newstate)
{
	__u32 zero = 0;
	__u64 *value = bpf_map_lookup_elem(&last, &zero);
	if (value)
		*value = bpf_ktime_get_ns();
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
