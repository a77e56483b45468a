// SPDX-License-Identifier: GPL-2.0
/* The floor of bench/tracecost.sh: a tp_btf program on the same tracepoint that does nothing. */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

struct sock;

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(on_state, const struct sock *sk, const int oldstate, const int newstate)
{
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
