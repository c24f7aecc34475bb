/*
 *  Copyright (C) 1995  Linus Torvalds
 *
 *  Sample file for patchsync's tests: a shortened stand-in for
 *  arch/x86/kernel/setup.c.
 */
#include <linux/init.h>
#include <linux/kernel.h>
#include <asm/setup.h>

unsigned long max_low_pfn_mapped;
unsigned long max_pfn_mapped;

static void __init reserve_brk(void)
{
	if (_brk_end > _brk_start)
		reserve_early(__pa(_brk_start), __pa(_brk_end), "BRK");
	_brk_start = 0;
}

void __init setup_arch(char **cmdline_p)
{
	printk(KERN_INFO "Command line: %s\n", boot_command_line);
	early_cpu_init();
	early_ioremap_init();
	reserve_brk();
	paging_init();
}
