/*
 * Linked into the native AOT executable (SockWatch.Agent.csproj, target
 * SockWatchNativeStartup): before the .NET runtime starts, the zero-filled part of the
 * program's writable segment (.bss and .hydrated, where the runtime expands its compressed
 * data at every start, about 4.7 MiB) is asked for transparent huge pages and populated in one
 * call, instead of the 1,200 page faults of its first touch. On this project's machine that
 * took `sockwatch --version` from about 29 to 20 ms of CPU and 1,534 to 367 page faults
 * (bench/results/2026-12-08-startup-prefault.md), most of what a one-shot command on 10,000
 * sockets spends before it reads a socket.
 *
 * Both calls are advice: a kernel without MADV_POPULATE_WRITE (before 5.14) or without
 * transparent huge pages refuses them, and the pages then fault in on first touch as before.
 * Populating costs no memory: the runtime writes all of it at start anyway. A huge page does:
 * the part of it the runtime never writes, about 0.6 MiB of RSS side by side at 100,000
 * sockets. So the daemon (`sockwatch run`), which starts once and then lives on its RSS, only
 * populates; the one-shot commands, which live on their start, also take the huge page.
 */
#define _GNU_SOURCE
#include <link.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MADV_HUGEPAGE
#define MADV_HUGEPAGE 14
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

static int prefault_main_program(struct dl_phdr_info *info, size_t size, void *data)
{
	(void)size;
	int huge = *(const int *)data;
	/* the first object is the program itself */
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_W) || ph->p_memsz <= ph->p_filesz)
			continue;
		/* the zero-filled tail: whole pages past the file's last one */
		uintptr_t start = (info->dlpi_addr + ph->p_vaddr + ph->p_filesz + page - 1) & ~(page - 1);
		uintptr_t end = (info->dlpi_addr + ph->p_vaddr + ph->p_memsz + page - 1) & ~(page - 1);
		if (end > start) {
			if (huge)
				(void)madvise((void *)start, end - start, MADV_HUGEPAGE);
			(void)madvise((void *)start, end - start, MADV_POPULATE_WRITE);
		}
	}
	return 1; /* the program only */
}

/* glibc calls the program's constructors with its arguments */
__attribute__((constructor)) static void sockwatch_prefault(int argc, char **argv, char **envp)
{
	(void)envp;
	int huge = !(argc > 1 && argv && argv[1] && strcmp(argv[1], "run") == 0);
	dl_iterate_phdr(prefault_main_program, &huge);
}
