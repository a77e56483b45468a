// SPDX-License-Identifier: GPL-2.0
/*
 * SockWatch's TCP lifecycle tracer: every state change the kernel reports on the
 * sock:inet_sock_set_state tracepoint, and every reset on tcp:tcp_send_reset and
 * tcp:tcp_receive_reset, counted in the kernel. Built by bpf/build.sh; loaded by
 * src/Agent/Tracing/TraceSession.cs through the system's libbpf.
 *
 * What is kept in the kernel (docs/metrics.md, "Tracing"):
 *   transitions  (netns, from, to) -> changes
 *   entries      socket -> when it entered its current state, its local port (LRU; misses counted)
 *   durations    (netns, state) -> log2 histogram of the time spent in it, in ns
 *   resets       (netns, state, direction) -> resets
 *   opens        (netns, direction, cgroup, comm) -> connections that reached established
 *   closes       (netns, remote address, remote port) -> active closes toward that peer
 *   owners       socket -> the process that connect()ed, listen()ed or close()d it
 *   events       ring buffer: close_wait entries and exits, connect failures, and every
 *                change while `sockwatch trace` asks for them (config[0] = 1)
 *   stats        lost ring buffer records, entry misses
 *
 * Owners: the tracepoint often runs in softirq context, where the current task is whatever
 * was running on that CPU. The current task is taken as the owner only where the change is
 * made by a system call of the socket's process: close -> syn_sent (connect), close -> listen
 * (listen), established -> fin_wait1 and close_wait -> last_ack (close, shutdown). A server's
 * connection gets its listener's owner when it is born (listen -> syn_recv), as SockWatch's
 * ownership scan attributes unaccepted sockets (README, "How owners are found").
 *
 * CO-RE: only the kernel structs and fields used here are declared, with
 * preserve_access_index, so that the object does not depend on one kernel's vmlinux.h and is
 * the same whatever machine builds it.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>

typedef __u8 u8;
typedef __u16 u16;
typedef __u32 u32;
typedef __u64 u64;

/* include/net/tcp_states.h */
enum {
	SW_ESTABLISHED = 1,
	SW_SYN_SENT = 2,
	SW_SYN_RECV = 3,
	SW_FIN_WAIT1 = 4,
	SW_FIN_WAIT2 = 5,
	SW_TIME_WAIT = 6,
	SW_CLOSE = 7,
	SW_CLOSE_WAIT = 8,
	SW_LAST_ACK = 9,
	SW_LISTEN = 10,
};

#define SW_AF_INET 2
#define SW_AF_INET6 10
#define SW_IPPROTO_TCP 6

/* include/net/net_namespace.h, include/linux/ns_common.h */
struct ns_common {
	unsigned int inum;
} __attribute__((preserve_access_index));

struct net {
	struct ns_common ns;
} __attribute__((preserve_access_index));

typedef struct {
	struct net *net;
} possible_net_t;

struct in6_addr {
	union {
		u8 u6_addr8[16];
	} in6_u;
} __attribute__((preserve_access_index));

/* include/net/sock.h */
struct sock_common {
	u32 skc_daddr;
	u32 skc_rcv_saddr;
	u16 skc_dport;
	u16 skc_num;
	unsigned short skc_family;
	volatile unsigned char skc_state;
	possible_net_t skc_net;
	struct in6_addr skc_v6_daddr;
	struct in6_addr skc_v6_rcv_saddr;
} __attribute__((preserve_access_index));

struct sock {
	struct sock_common __sk_common;
	u16 sk_protocol;
} __attribute__((preserve_access_index));

/* include/linux/netdevice.h, include/linux/skbuff.h */
struct net_device {
	possible_net_t nd_net;
} __attribute__((preserve_access_index));

struct sk_buff {
	struct net_device *dev;
} __attribute__((preserve_access_index));

/* The direction label of a reset. */
#define DIR_SENT 0
#define DIR_RECEIVED 1

/* The direction of an opened connection. */
#define OPEN_ACTIVE 0
#define OPEN_PASSIVE 1

/* stats[] indices */
#define STAT_LOST 0
#define STAT_ENTRY_MISSES 1
#define STAT_COUNT 4

/* Log2 buckets of nanoseconds: slot k holds durations in [2^(k-1), 2^k) ns, slot 0 holds 0. */
#define SLOTS 64

struct transition_key {
	u32 netns;
	u8 from;
	u8 to;
	u16 pad;
};

struct state_key {
	u32 netns;
	u32 state;
};

struct histogram {
	u64 slots[SLOTS];
	u64 sum_ns;
};

struct reset_key {
	u32 netns;
	u8 state;
	u8 direction;
	u16 pad;
};

struct owner {
	u64 cgroup;
	u32 pid;
	u32 pad;
	char comm[16];
};

struct open_key {
	u32 netns;
	u32 direction;
	u64 cgroup;
	char comm[16];
};

struct peer_key {
	u32 netns;
	u16 port;
	u16 family;
	u8 addr[16];
};

struct listener_key {
	u32 netns;
	u32 port;
};

/* One record of the ring buffer: a state change of one socket (layout: TraceEvent.cs). */
struct event {
	u64 at_ns;       /* bpf_ktime_get_ns: CLOCK_MONOTONIC */
	u64 in_state_ns; /* time spent in `from`; 0 when its entry was not seen */
	u64 socket;      /* an opaque identity for the life of the socket */
	u64 cgroup;      /* the owner's cgroup id, 0 when unknown */
	u32 netns;
	u32 pid;         /* the owner's process id, 0 when unknown */
	u16 family;
	u16 local_port;
	u16 remote_port;
	u8 from;
	u8 to;
	u8 local[16];
	u8 remote[16];
	char comm[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct transition_key);
	__type(value, u64);
} transitions SEC(".maps");

/*
 * Bounded: a socket's entry is removed when it reaches close. The LRU only evicts when more
 * sockets are alive at once than it holds; a state left without an entry is counted
 * (STAT_ENTRY_MISSES), as is every socket that existed before tracing started.
 */
/*
 * When a socket entered its state, and its local port: the kernel gives the port back
 * (inet_put_port sets it to 0) before the tracepoint of the change to close fires.
 */
struct entry {
	u64 at_ns;
	u16 local_port;
	u16 pad[3];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(map_flags, BPF_F_NO_COMMON_LRU); /* an LRU list per CPU: no lock shared between CPUs */
	__uint(max_entries, 262144);
	__type(key, u64);
	__type(value, struct entry);
} entries SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct state_key);
	__type(value, struct histogram);
} durations SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct reset_key);
	__type(value, u64);
} resets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, struct open_key);
	__type(value, u64);
} opens SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, struct peer_key);
	__type(value, u64);
} closes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(map_flags, BPF_F_NO_COMMON_LRU);
	__uint(max_entries, 262144);
	__type(key, u64);
	__type(value, struct owner);
} owners SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct listener_key);
	__type(value, struct owner);
} listeners SEC(".maps");

/* The state a socket closed from, for a reset sent just after (tcp_disconnect closes first). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, u64);
	__type(value, u8);
} closed_from SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 * 1024 * 1024);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, STAT_COUNT);
	__type(key, u32);
	__type(value, u64);
} stats SEC(".maps");

/* config[0]: 1 while every change goes to the ring buffer (sockwatch trace). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u32);
} config SEC(".maps");

static __always_inline void count_stat(u32 index)
{
	u64 *value = bpf_map_lookup_elem(&stats, &index);
	if (value)
		__sync_fetch_and_add(value, 1);
}

static __always_inline void add(void *map, const void *key, u64 by)
{
	u64 *value = bpf_map_lookup_elem(map, key);
	if (value) {
		__sync_fetch_and_add(value, by);
		return;
	}
	u64 first = by;
	if (bpf_map_update_elem(map, key, &first, BPF_NOEXIST) != 0) {
		value = bpf_map_lookup_elem(map, key);
		if (value)
			__sync_fetch_and_add(value, by);
	}
}

static __always_inline u32 netns_of(const struct sock *sk)
{
	return BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
}

static __always_inline u32 log2_slot(u64 v)
{
	u32 slot = 0;
	/* the smallest k with v < 2^k */
#pragma unroll
	for (int shift = 32; shift > 0; shift >>= 1) {
		if (v >> shift) {
			v >>= shift;
			slot += shift;
		}
	}
	return v ? slot + 1 : slot;
}

static __always_inline void observe(u32 netns, u32 state, u64 ns)
{
	struct state_key key = { .netns = netns, .state = state };
	struct histogram *h = bpf_map_lookup_elem(&durations, &key);
	if (!h) {
		static const struct histogram empty;
		bpf_map_update_elem(&durations, &key, &empty, BPF_NOEXIST);
		h = bpf_map_lookup_elem(&durations, &key);
		if (!h)
			return;
	}
	u32 slot = log2_slot(ns) & (SLOTS - 1);
	__sync_fetch_and_add(&h->slots[slot], 1);
	__sync_fetch_and_add(&h->sum_ns, ns);
}

static __always_inline void current_owner(struct owner *o)
{
	o->cgroup = bpf_get_current_cgroup_id();
	o->pid = bpf_get_current_pid_tgid() >> 32;
	o->pad = 0;
	bpf_get_current_comm(o->comm, sizeof(o->comm));
}

static __always_inline void addresses(const struct sock *sk, u16 family, u8 *local, u8 *remote)
{
	if (family == SW_AF_INET6) {
		BPF_CORE_READ_INTO(local, sk, __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);
		BPF_CORE_READ_INTO(remote, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
	} else {
		u32 l = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		u32 r = BPF_CORE_READ(sk, __sk_common.skc_daddr);
		__builtin_memcpy(local, &l, 4);
		__builtin_memcpy(remote, &r, 4);
	}
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(on_state, const struct sock *sk, const int oldstate, const int newstate)
{
	if (BPF_CORE_READ(sk, sk_protocol) != SW_IPPROTO_TCP)
		return 0;

	u64 now = bpf_ktime_get_ns();
	u64 id = (u64)sk;
	u32 netns = netns_of(sk);
	u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	u16 lport = BPF_CORE_READ(sk, __sk_common.skc_num);

	struct transition_key tk = { .netns = netns, .from = oldstate, .to = newstate };
	add(&transitions, &tk, 1);

	/* time in the state left */
	u64 in_state = 0;
	struct entry *entered = bpf_map_lookup_elem(&entries, &id);
	if (entered) {
		in_state = now - entered->at_ns;
		observe(netns, oldstate, in_state);
		if (lport == 0)
			lport = entered->local_port;
	} else if (oldstate != SW_CLOSE && !(oldstate == SW_LISTEN && newstate == SW_SYN_RECV)) {
		/* not a birth (connect, listen, or a child cloned from its listener) */
		count_stat(STAT_ENTRY_MISSES);
	}

	/* owners, from process context only */
	struct owner o = {};
	if (newstate == SW_SYN_SENT || newstate == SW_LISTEN ||
	    (oldstate == SW_ESTABLISHED && newstate == SW_FIN_WAIT1) ||
	    (oldstate == SW_CLOSE_WAIT && newstate == SW_LAST_ACK)) {
		current_owner(&o);
		struct owner *known = bpf_map_lookup_elem(&owners, &id);
		if (!known || known->pid != o.pid || known->cgroup != o.cgroup)
			bpf_map_update_elem(&owners, &id, &o, BPF_ANY);
		if (newstate == SW_LISTEN) {
			struct listener_key lk = { .netns = netns, .port = lport };
			bpf_map_update_elem(&listeners, &lk, &o, BPF_ANY);
		}
	} else if (oldstate == SW_LISTEN && newstate == SW_SYN_RECV) {
		struct listener_key lk = { .netns = netns, .port = lport };
		struct owner *l = bpf_map_lookup_elem(&listeners, &lk);
		if (l) {
			o = *l;
			bpf_map_update_elem(&owners, &id, &o, BPF_ANY);
		}
	} else {
		struct owner *known = bpf_map_lookup_elem(&owners, &id);
		if (known)
			o = *known;
	}

	if (newstate == SW_ESTABLISHED && (oldstate == SW_SYN_SENT || oldstate == SW_SYN_RECV)) {
		struct open_key ok = { .netns = netns, .direction = oldstate == SW_SYN_SENT ? OPEN_ACTIVE : OPEN_PASSIVE, .cgroup = o.cgroup };
		__builtin_memcpy(ok.comm, o.comm, sizeof(ok.comm));
		add(&opens, &ok, 1);
	}

	/* the local side closed first: fin_wait1 from established, or closing */
	if (oldstate == SW_ESTABLISHED && newstate == SW_FIN_WAIT1) {
		struct peer_key pk = { .netns = netns, .port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport)), .family = family };
		u8 local[16] = {};
		addresses(sk, family, local, pk.addr);
		add(&closes, &pk, 1);
	}

	u32 zero = 0;
	u32 *stream_all = bpf_map_lookup_elem(&config, &zero);
	int wanted = (stream_all && *stream_all) || newstate == SW_CLOSE_WAIT || oldstate == SW_CLOSE_WAIT ||
		     (oldstate == SW_SYN_SENT && newstate == SW_CLOSE);
	if (wanted) {
		struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
		if (!e) {
			count_stat(STAT_LOST);
		} else {
			e->at_ns = now;
			e->in_state_ns = in_state;
			e->socket = id;
			e->cgroup = o.cgroup;
			e->netns = netns;
			e->pid = o.pid;
			e->family = family;
			e->local_port = lport;
			e->remote_port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
			e->from = oldstate;
			e->to = newstate;
			__builtin_memset(e->local, 0, sizeof(e->local));
			__builtin_memset(e->remote, 0, sizeof(e->remote));
			addresses(sk, family, e->local, e->remote);
			__builtin_memcpy(e->comm, o.comm, sizeof(e->comm));
			/* no wakeup per record: the consumer drains the ring every 20 ms */
			bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
		}
	}

	if (newstate == SW_CLOSE) {
		bpf_map_delete_elem(&entries, &id);
		bpf_map_delete_elem(&owners, &id);
		/* an abortive close (tcp_disconnect) resets from these; a graceful end from
		 * fin_wait2 (time_wait) or last_ack sends none */
		if (oldstate == SW_ESTABLISHED || oldstate == SW_CLOSE_WAIT || oldstate == SW_FIN_WAIT1 ||
		    oldstate == SW_SYN_RECV || oldstate == SW_SYN_SENT) {
			u8 from = oldstate;
			bpf_map_update_elem(&closed_from, &id, &from, BPF_ANY);
		}
		if (oldstate == SW_LISTEN) {
			struct listener_key lk = { .netns = netns, .port = lport };
			bpf_map_delete_elem(&listeners, &lk);
		}
	} else if (entered) {
		/* in place: an update of an LRU element allocates a new one and frees the old */
		entered->at_ns = now;
		entered->local_port = lport;
	} else {
		struct entry e = { .at_ns = now, .local_port = lport };
		bpf_map_update_elem(&entries, &id, &e, BPF_ANY);
	}
	return 0;
}

static __always_inline void count_reset(u32 netns, u8 state, u8 direction)
{
	struct reset_key key = { .netns = netns, .state = state, .direction = direction };
	add(&resets, &key, 1);
}

SEC("tp_btf/tcp_send_reset")
int BPF_PROG(on_send_reset, const struct sock *sk, const struct sk_buff *skb)
{
	if (!sk) {
		/* No socket: a segment to a closed port (a refused connect), in the device's namespace. */
		u32 netns = skb ? BPF_CORE_READ(skb, dev, nd_net.net, ns.inum) : 0;
		count_reset(netns, SW_CLOSE, DIR_SENT);
		return 0;
	}
	u8 state = BPF_CORE_READ(sk, __sk_common.skc_state);
	if (state == SW_CLOSE) {
		/* tcp_disconnect and an abortive close set close before the reset goes out */
		u64 id = (u64)sk;
		u8 *from = bpf_map_lookup_elem(&closed_from, &id);
		if (from) {
			state = *from;
			bpf_map_delete_elem(&closed_from, &id);
		}
	}
	count_reset(netns_of(sk), state, DIR_SENT);
	return 0;
}

SEC("tp_btf/tcp_receive_reset")
int BPF_PROG(on_receive_reset, struct sock *sk)
{
	count_reset(netns_of(sk), BPF_CORE_READ(sk, __sk_common.skc_state), DIR_RECEIVED);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
