// SPDX-License-Identifier: GPL-2.0
/*
 * SockWatch's TCP lifecycle tracer: every state change the kernel reports on the
 * sock:inet_sock_set_state tracepoint, and every reset on tcp:tcp_send_reset and
 * tcp:tcp_receive_reset, counted in the kernel. Built by bpf/build.sh; loaded by
 * src/Agent/Tracing/TraceSession.cs through the system's libbpf.
 *
 * What is kept in the kernel (docs/metrics.md, "Tracing"):
 *   netstats     netns -> per CPU: changes per (from, to), a log2 histogram of the time spent
 *                in each state (ns), resets per (state, direction); summed by user space
 *   sockets      socket (its cookie) -> when it entered its current state (and which), its
 *                local port and its owner: a bounded table, 4-way set associative, that evicts
 *                the socket of the set that changed state longest ago (evictions counted); the
 *                daemon reads the entries of the sockets a poll finds in close_wait from it
 *   close_delays (netns, comm) -> a log2 histogram of the time its sockets spent in close_wait:
 *                how long that application takes to close after the peer's FIN
 *   opens        (netns, direction, cgroup, comm) -> connections that reached established
 *   closes       (netns, remote address, remote port) -> active closes toward that peer (port
 *                0: toward clients of this host at that address)
 *   listeners    (netns, port) -> the owner of a listening socket, for the children it makes
 *   events       ring buffer: connect failures, and every change while `sockwatch trace` asks
 *                for them (config[0] = 1)
 *   stats        per CPU: lost ring buffer records, entry misses, evictions, changes not
 *                counted for want of room
 *
 * Cost (bench/results, "trace"): the program runs about ten times a connection, on both sides,
 * so every nanosecond counts at tens of thousands of connections a second. Per change it reads
 * the socket directly (BTF pointers, no probe reads), takes the clock, looks its namespace up
 * once, and touches one set of the socket table: no lock, no allocation, no atomic operation
 * shared between CPUs on the common path (a compare-and-swap when a socket is born). The ring
 * buffer, whose reservation takes a lock with interrupts off, gets no record of a connection
 * that ends well.
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

/* stats[] indices (per CPU; user space sums them) */
#define STAT_LOST 0
#define STAT_ENTRY_MISSES 1
#define STAT_EVICTIONS 2
#define STAT_NO_ROOM 3
#define STAT_COUNT 4

/* States 0 to 15: TCP_BOUND_INACTIVE (13) is the highest the kernel defines; a power of two, so
 * that a state is bounded for the verifier by a mask. */
#define STATES 16

/* Log2 buckets of nanoseconds: slot k holds durations in [2^(k-1), 2^k) ns, slot 0 holds 0. */
#define SLOTS 64

/* Everything counted per namespace, one copy per CPU (layout: TraceRecords.cs, NetStats). */
struct netstats {
	u64 changes[STATES][STATES];
	u64 slots[STATES][SLOTS];
	u64 sum_ns[STATES];
	u64 resets[STATES][2];
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

struct delay_key {
	u32 netns;
	u32 pad;
	char comm[16];
};

struct delays {
	u64 slots[SLOTS];
};

struct listener_key {
	u32 netns;
	u32 port;
};

/* One record of the ring buffer: a state change of one socket (layout: TraceRecords.cs). */
struct event {
	u64 at_ns;       /* bpf_ktime_get_ns: CLOCK_MONOTONIC */
	u64 in_state_ns; /* time spent in `from`; 0 when its entry was not seen */
	u64 socket;      /* the socket's cookie, as sock_diag reports it */
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

/*
 * At most 1,024 namespaces; the values are allocated as namespaces are first seen (about 10 KiB
 * a namespace a CPU). A change in a namespace beyond them is counted as STAT_NO_ROOM.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 1024);
	__type(key, u32);
	__type(value, struct netstats);
} netstats SEC(".maps");

/*
 * The socket table: SETS sets of WAYS sockets (262,144 in all). A socket's set is a hash of its
 * cookie; its entry is found by comparing the set's four cookies, claimed with a
 * compare-and-swap, and freed when the socket reaches close. A new socket takes a free way, or
 * else the way of the socket that changed state longest ago, which is counted as an eviction:
 * that socket's next change finds no entry and is counted as an entry miss. A set is one cache
 * line (the cookies and the entry times, touched at every change); the local port and the owner,
 * touched at a few changes of a socket's life, are in `holders`, at the same index. A hash
 * map's insert and delete (a bucket lock with interrupts off, an element from a free list) cost
 * more than the rest of the program together (bench/results, "trace").
 */
#define WAYS 4
#define SETS 65536

struct set {
	u64 id[WAYS];    /* the socket's cookie; 0 when the way is free */
	u64 at_ns[WAYS]; /* when it entered its current state, with that state in the low 4 bits */
};

/* An entry time with its state: the clock to 16 ns, which the log2 histograms cannot tell apart. */
#define STATE_BITS 0xfull

struct holder {
	u64 cgroup;
	u32 pid;
	u16 port;  /* its local port: the kernel gives it back before the change to close */
	u8 active; /* born by connect (syn_sent), not accepted */
	u8 pad;
	char comm[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SETS);
	__type(key, u32);
	__type(value, struct set);
} sockets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SETS * WAYS);
	__type(key, u32);
	__type(value, struct holder);
} holders SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__uint(max_entries, 8192);
	__type(key, struct open_key);
	__type(value, u64);
} opens SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__uint(max_entries, 8192);
	__type(key, struct peer_key);
	__type(value, u64);
} closes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct listener_key);
	__type(value, struct owner);
} listeners SEC(".maps");

/*
 * Time in close_wait per application (namespace and comm), one copy per CPU: a shared value
 * would have every CPU add to the same lines of a busy application's histogram. 256
 * applications, the least recently seen evicted: 128 KiB a CPU.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__uint(max_entries, 256);
	__type(key, struct delay_key);
	__type(value, struct delays);
} close_delays SEC(".maps");

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
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
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

static const struct netstats no_stats;

/*
 * Per-CPU values are only ever changed by this CPU, with preemption off (tracepoints run so);
 * a program of another tracepoint that interrupts this one touches other fields, and the same
 * program never runs nested (the kernel skips it and counts a recursion miss, which user space
 * reads from the program's info). So plain increments are exact here.
 */
static __always_inline void count_stat(u32 index)
{
	u64 *value = bpf_map_lookup_elem(&stats, &index);
	if (value)
		*value += 1;
}

static __always_inline void add_percpu(void *map, const void *key)
{
	u64 *value = bpf_map_lookup_elem(map, key);
	if (value) {
		*value += 1;
		return;
	}
	u64 first = 1;
	/* another CPU may have made it first: then this CPU's copy is zero and found */
	if (bpf_map_update_elem(map, key, &first, BPF_NOEXIST) != 0) {
		value = bpf_map_lookup_elem(map, key);
		if (value)
			*value += 1;
	}
}

static __always_inline struct netstats *netstats_of(u32 netns)
{
	struct netstats *s = bpf_map_lookup_elem(&netstats, &netns);
	if (s)
		return s;
	bpf_map_update_elem(&netstats, &netns, &no_stats, BPF_NOEXIST);
	return bpf_map_lookup_elem(&netstats, &netns);
}

static __always_inline u32 netns_of(const struct sock *sk)
{
	return sk->__sk_common.skc_net.net->ns.inum;
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
		u32 l = sk->__sk_common.skc_rcv_saddr;
		u32 r = sk->__sk_common.skc_daddr;
		__builtin_memcpy(local, &l, 4);
		__builtin_memcpy(remote, &r, 4);
	}
}

/* The set of a cookie: the high bits of a Fibonacci hash. */
static __always_inline u32 set_index(u64 id)
{
	return (u32)((id * 0x9E3779B97F4A7C15ull) >> 48) & (SETS - 1);
}

static __always_inline int way_of(const struct set *set, u64 id)
{
	int way = -1;
#pragma unroll
	for (int w = 0; w < WAYS; w++)
		if (set->id[w] == id)
			way = w;
	return way;
}

/* A way for a socket first seen: a free one, else the one whose socket changed state longest ago. */
static __always_inline int claim(struct set *set, u64 id)
{
	u32 victim = 0;
	u64 oldest = ~0ull;
	u64 was = 0;
#pragma unroll
	for (int w = 0; w < WAYS; w++) {
		u64 held = set->id[w];
		if (held == 0) {
			if (oldest != 0) {
				victim = w;
				oldest = 0;
				was = 0;
			}
		} else if (set->at_ns[w] < oldest) {
			victim = w;
			oldest = set->at_ns[w];
			was = held;
		}
	}
	victim &= WAYS - 1;
	/* another CPU claiming the same way for another socket wins; this socket goes unseen */
	if (__sync_val_compare_and_swap(&set->id[victim], was, id) != was)
		return -1;
	if (was)
		count_stat(STAT_EVICTIONS);
	return victim;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(on_state, struct sock *sk, const int oldstate, const int newstate)
{
	if (sk->sk_protocol != SW_IPPROTO_TCP)
		return 0;

	u64 now = bpf_ktime_get_ns();
	u32 netns = netns_of(sk);
	u32 from = oldstate & (STATES - 1), to = newstate & (STATES - 1);
	struct netstats *ns = netstats_of(netns);
	if (!ns) {
		count_stat(STAT_NO_ROOM);
		return 0;
	}
	ns->changes[from][to] += 1;
#ifdef SW_FLOOR_COUNTS
	/* bench/tracecost/counts.bpf.c: the changes counted, nothing kept per socket */
	return 0;
#endif

	u64 id = bpf_get_socket_cookie(sk);
	u32 index = set_index(id);
	struct set *set = bpf_map_lookup_elem(&sockets, &index);
	if (!set)
		return 0;
	u16 lport = sk->__sk_common.skc_num;

	/* time in the state left */
	u64 in_state = 0;
	int found = way_of(set, id);
	u32 w = found & (WAYS - 1);
	if (found >= 0) {
		in_state = now - (set->at_ns[w] & ~STATE_BITS);
		u32 slot = log2_slot(in_state) & (SLOTS - 1);
		ns->slots[from][slot] += 1;
		ns->sum_ns[from] += in_state;
	} else if (from != SW_CLOSE && !(from == SW_LISTEN && to == SW_SYN_RECV)) {
		/* not a birth (connect, listen, or a child cloned from its listener) */
		count_stat(STAT_ENTRY_MISSES);
	}

	int born = 0;
	if (to != SW_CLOSE) {
		if (found < 0) {
			found = claim(set, id);
			w = found & (WAYS - 1);
			born = found >= 0;
		}
		if (found >= 0)
			set->at_ns[w] = (now & ~STATE_BITS) | to;
	}
#ifdef SW_FLOOR_DURATIONS
	/* bench/tracecost/durations.bpf.c: the changes and the time in each state, no owner, no
	 * destination, no record */
	if (to == SW_CLOSE && found >= 0)
		set->id[w] = 0;
	return 0;
#endif
	struct holder *h = 0;
	if (found >= 0) {
		u32 slot = index * WAYS + w;
		h = bpf_map_lookup_elem(&holders, &slot);
	}
	if (h) {
		if (born) {
			h->pid = 0;
			h->cgroup = 0;
			h->comm[0] = 0;
			h->port = lport;
			h->active = to == SW_SYN_SENT;
		} else if (lport == 0) {
			lport = h->port;
		} else if (h->port != lport) {
			h->port = lport;
		}
	}

	/* owners, from process context only */
	struct owner o = {};
	int owner_known = 0;
	if (to == SW_SYN_SENT || to == SW_LISTEN || (from == SW_ESTABLISHED && to == SW_FIN_WAIT1) ||
	    (from == SW_CLOSE_WAIT && to == SW_LAST_ACK)) {
		current_owner(&o);
		owner_known = 1;
		if (to == SW_LISTEN) {
			struct listener_key lk = { .netns = netns, .port = lport };
			bpf_map_update_elem(&listeners, &lk, &o, BPF_ANY);
		}
	} else if (from == SW_LISTEN && to == SW_SYN_RECV) {
		struct listener_key lk = { .netns = netns, .port = lport };
		struct owner *l = bpf_map_lookup_elem(&listeners, &lk);
		if (l) {
			o = *l;
			owner_known = 1;
		}
	}
	if (h) {
		if (owner_known) {
			h->pid = o.pid;
			h->cgroup = o.cgroup;
			__builtin_memcpy(h->comm, o.comm, sizeof(o.comm));
		} else {
			o.pid = h->pid;
			o.cgroup = h->cgroup;
			__builtin_memcpy(o.comm, h->comm, sizeof(o.comm));
		}
	}

	if (to == SW_ESTABLISHED && (from == SW_SYN_SENT || from == SW_SYN_RECV)) {
		struct open_key ok = { .netns = netns, .direction = from == SW_SYN_SENT ? OPEN_ACTIVE : OPEN_PASSIVE, .cgroup = o.cgroup };
		__builtin_memcpy(ok.comm, o.comm, sizeof(ok.comm));
		add_percpu(&opens, &ok);
	}

	/*
	 * How long the application took to close after the peer's FIN. A close_wait entry is read
	 * by the daemon from the socket table (no record): a record reserved in the shared ring
	 * buffer costs more than the rest of a change together.
	 */
	if (from == SW_CLOSE_WAIT && in_state > 0) {
		struct delay_key dk = { .netns = netns };
		__builtin_memcpy(dk.comm, o.comm, sizeof(dk.comm));
		struct delays *d = bpf_map_lookup_elem(&close_delays, &dk);
		if (!d) {
			static const struct delays none;
			bpf_map_update_elem(&close_delays, &dk, &none, BPF_NOEXIST);
			d = bpf_map_lookup_elem(&close_delays, &dk);
		}
		if (d)
			d->slots[log2_slot(in_state) & (SLOTS - 1)] += 1;
	}

	u16 family = sk->__sk_common.skc_family;
	/*
	 * The local side closed first: fin_wait1 from established. Toward a destination this host
	 * connected to, per (address, port); a connection it accepted is counted per client
	 * address with port 0, since a client's ephemeral ports would make a key per connection.
	 */
	if (from == SW_ESTABLISHED && to == SW_FIN_WAIT1) {
		u16 port = h && h->active ? bpf_ntohs(sk->__sk_common.skc_dport) : 0;
		struct peer_key pk = { .netns = netns, .port = port, .family = family };
		u8 local[16] = {};
		addresses(sk, family, local, pk.addr);
		add_percpu(&closes, &pk);
	}

	u32 zero = 0;
	u32 *stream_all = bpf_map_lookup_elem(&config, &zero);
	int wanted = (stream_all && *stream_all) || (from == SW_SYN_SENT && to == SW_CLOSE);
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
			e->remote_port = bpf_ntohs(sk->__sk_common.skc_dport);
			e->from = from;
			e->to = to;
			__builtin_memset(e->local, 0, sizeof(e->local));
			__builtin_memset(e->remote, 0, sizeof(e->remote));
			addresses(sk, family, e->local, e->remote);
			__builtin_memcpy(e->comm, o.comm, sizeof(e->comm));
			/* no wakeup per record: the consumer drains the ring every 20 ms */
			bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
		}
	}

	if (to == SW_CLOSE) {
		if (found >= 0)
			set->id[w] = 0;
		/* an abortive close (tcp_disconnect) resets from these; a graceful end from
		 * fin_wait2 (time_wait) or last_ack sends none */
		if (from == SW_ESTABLISHED || from == SW_CLOSE_WAIT || from == SW_FIN_WAIT1 ||
		    from == SW_SYN_RECV || from == SW_SYN_SENT) {
			u8 closed = from;
			bpf_map_update_elem(&closed_from, &id, &closed, BPF_ANY);
		}
		if (from == SW_LISTEN) {
			struct listener_key lk = { .netns = netns, .port = lport };
			bpf_map_delete_elem(&listeners, &lk);
		}
	}
	return 0;
}

static __always_inline void count_reset(u32 netns, u32 state, u32 direction)
{
	struct netstats *ns = netstats_of(netns);
	if (!ns) {
		count_stat(STAT_NO_ROOM);
		return;
	}
	ns->resets[state & (STATES - 1)][direction & 1] += 1;
}

SEC("tp_btf/tcp_send_reset")
int BPF_PROG(on_send_reset, const struct sock *sk, const struct sk_buff *skb)
{
	if (!sk) {
		/* No socket: a segment to a closed port (a refused connect), in the device's namespace. */
		u32 netns = 0;
		if (skb) {
			struct net_device *dev = skb->dev;
			if (dev)
				netns = dev->nd_net.net->ns.inum;
		}
		count_reset(netns, SW_CLOSE, DIR_SENT);
		return 0;
	}
	u8 state = sk->__sk_common.skc_state;
	if (state == SW_CLOSE) {
		/* tcp_disconnect and an abortive close set close before the reset goes out */
		u64 id = bpf_get_socket_cookie((void *)sk);
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
	count_reset(netns_of(sk), sk->__sk_common.skc_state, DIR_RECEIVED);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
