/*
 * Loopback connection churn as fast as the machine goes, for bench/trace.sh: the tracer's cost
 * is measured as the connections per second this reaches untraced, traced by SockWatch, and
 * traced by bpftrace.
 *
 *   tracechurn SECONDS [CLIENT_THREADS] [PORT]
 *
 * One server thread accepts on 127.0.0.1:PORT and closes every connection at once (the server
 * closes first: its side goes fin_wait1, fin_wait2, and time_wait; the client's close_wait,
 * last_ack, close). CLIENT_THREADS threads (default 2) each connect, read end-of-file, and
 * close, in a loop, binding to 127.0.0.N (N from 2 up, one per thread) so that their
 * four-tuples do not collide with the server's time_wait ones. Prints one line:
 *   connections=C seconds=S rate=R failed=F
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static atomic_long connections;
static atomic_long failed;
static atomic_int stop;
static atomic_int server_stop; /* after the clients: none may wait on a connection never accepted */
static int port = 7900;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *serve(void *arg)
{
	int listener = *(int *)arg;
	while (!atomic_load(&server_stop)) {
		int c = accept(listener, NULL, NULL);
		if (c >= 0)
			close(c);
	}
	return NULL;
}

static void *churn(void *arg)
{
	long n = (long)arg;
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(port) };
	struct sockaddr_in from = { .sin_family = AF_INET };
	inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
	from.sin_addr.s_addr = htonl(0x7f000002 + n);
	int one = 1;
	char buf[16];
	while (!atomic_load(&stop)) {
		int s = socket(AF_INET, SOCK_STREAM, 0);
		setsockopt(s, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
		if (bind(s, (struct sockaddr *)&from, sizeof(from)) != 0 ||
		    connect(s, (struct sockaddr *)&to, sizeof(to)) != 0) {
			atomic_fetch_add(&failed, 1);
			close(s);
			continue;
		}
		while (read(s, buf, sizeof(buf)) > 0)
			;
		close(s);
		atomic_fetch_add(&connections, 1);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: tracechurn SECONDS [CLIENT_THREADS] [PORT]\n");
		return 2;
	}
	double seconds = atof(argv[1]);
	int threads = argc > 2 ? atoi(argv[2]) : 2;
	if (argc > 3)
		port = atoi(argv[3]);

	int listener = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in at = { .sin_family = AF_INET, .sin_port = htons(port) };
	inet_pton(AF_INET, "127.0.0.1", &at.sin_addr);
	if (bind(listener, (struct sockaddr *)&at, sizeof(at)) != 0 || listen(listener, 4096) != 0) {
		perror("tracechurn: listen");
		return 1;
	}
	pthread_t server, clients[64];
	pthread_create(&server, NULL, serve, &listener);
	if (threads > 64)
		threads = 64;
	double started = now();
	for (long i = 0; i < threads; i++)
		pthread_create(&clients[i], NULL, churn, (void *)i);
	usleep((useconds_t)(seconds * 1e6));
	atomic_store(&stop, 1);
	for (int i = 0; i < threads; i++)
		pthread_join(clients[i], NULL);
	double elapsed = now() - started;
	atomic_store(&server_stop, 1);
	shutdown(listener, SHUT_RDWR);
	pthread_join(server, NULL);
	long c = atomic_load(&connections);
	printf("connections=%ld seconds=%.3f rate=%.0f failed=%ld\n", c, elapsed, c / elapsed, atomic_load(&failed));
	return 0;
}
