// SPDX-License-Identifier: GPL-2.0
/*
 * lpm-faultinject: TEST-ONLY guest kernel module for lpmtrace's QEMU tests.
 *
 * QEMU's pseries machine does not implement the VASI stream (H_VASI_STATE
 * and H_VASI_SIGNAL return H_FUNCTION) and its ibm,suspend-me only fails
 * when vCPUs are still running. To run the kernel's real migration code
 * paths, including the failure paths, this module rewrites chosen platform
 * answers as the kernel sees them:
 *
 *   - H_VASI_STATE (plpar_hcall): return code and stream state, optionally
 *     "ENABLED for N ms, then the injected state";
 *   - H_VASI_SIGNAL (plpar_hcall_norets): return code;
 *   - ibm,suspend-me (rtas_call): status, without calling firmware;
 *   - one CPU held out of the join for N ms (spinning at the entry of the
 *     join function on that CPU).
 *
 * Every injection is logged with the prefix "lpm-faultinject:" so a test
 * can tell injected answers from real ones in the kernel log. Nothing of
 * lpmtrace depends on this module; it only exists for the VM tests
 * (cargo xtask vm-test). Never load it on a real partition.
 */
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/kprobes.h>
#include <linux/delay.h>
#include <linux/timekeeping.h>
#include <linux/jiffies.h>
#include <linux/smp.h>
#include <linux/atomic.h>
#include <linux/sched.h>
#include <linux/timer.h>
#include <linux/cpumask.h>
#include <linux/version.h>
#include <asm/rtas.h>
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)
/* Since 6.3 smp_send_reschedule() is a macro that fires this tracepoint. */
#include <trace/events/ipi.h>
#endif

#define FI "lpm-faultinject: "

/* Opcodes (5.10's hvcall.h lacks H_VASI_SIGNAL). */
#define FI_H_VASI_SIGNAL 0x2A0
#define FI_H_VASI_STATE 0x2A4
#define FI_VASI_ENABLED 1

/* A value no injection parameter can mean: "leave the answer alone". */
#define FI_OFF (-999999)

static long vasi_rc = FI_OFF;
module_param(vasi_rc, long, 0644);
MODULE_PARM_DESC(vasi_rc, "H_VASI_STATE return code to report (unset: not injected)");
static long vasi_state = 3;
module_param(vasi_state, long, 0644);
MODULE_PARM_DESC(vasi_state, "H_VASI_STATE stream state to report when vasi_rc is 0 (3 = SUSPENDING)");
static int vasi_enabled_ms;
module_param(vasi_enabled_ms, int, 0644);
MODULE_PARM_DESC(vasi_enabled_ms, "report rc 0 and ENABLED for this long after the first query, then vasi_rc/vasi_state");
static int vasi_count = -1;
module_param(vasi_count, int, 0644);
MODULE_PARM_DESC(vasi_count, "H_VASI_STATE injections left (-1: unlimited)");

static long signal_rc = FI_OFF;
module_param(signal_rc, long, 0644);
MODULE_PARM_DESC(signal_rc, "H_VASI_SIGNAL return code to report (unset: not injected)");

static int suspend_status = FI_OFF;
module_param(suspend_status, int, 0644);
MODULE_PARM_DESC(suspend_status, "ibm,suspend-me status to report instead of calling firmware (unset: not injected)");
static int suspend_count = -1;
module_param(suspend_count, int, 0644);
MODULE_PARM_DESC(suspend_count, "ibm,suspend-me injections left (-1: unlimited)");

static int hold_cpu = -1;
module_param(hold_cpu, int, 0644);
MODULE_PARM_DESC(hold_cpu, "CPU to hold out of the join (-1: none)");
static int hold_ms = 3000;
module_param(hold_ms, int, 0644);
MODULE_PARM_DESC(hold_ms, "how long to hold it, in ms");
static int hold_count = 1;
module_param(hold_count, int, 0644);
MODULE_PARM_DESC(hold_count, "joins to hold (-1: every one)");
static bool hold_ipi;
module_param(hold_ipi, bool, 0444);
MODULE_PARM_DESC(hold_ipi, "<= 5.10: hold hold_cpu by withholding the join IPI (the CPU keeps running tasks) instead of spinning");

static unsigned long vasi_first_query; /* jiffies of the first injected query, 0 = none yet */
static int suspend_me_token = RTAS_UNKNOWN_SERVICE;

/* Takes one injection from a budget (-1 = unlimited); false when spent. */
static bool take(int *budget)
{
	int left = READ_ONCE(*budget);

	if (left == 0)
		return false;
	if (left > 0)
		WRITE_ONCE(*budget, left - 1);
	return true;
}

/*
 * The answer chosen for the hcall in flight, so that the powerpc:hcall_exit
 * tracepoint (which fires inside plpar_hcall, before the kretprobe) reports
 * the injected value too, as tracers such as lpmtrace see it. H_VASI_STATE
 * and H_VASI_SIGNAL are rare and made by one task at a time.
 */
static struct task_struct *pending_task;
static unsigned long pending_op;
static long pending_rc, pending_state;

static void set_pending(unsigned long op, long rc, long state)
{
	WRITE_ONCE(pending_op, op);
	WRITE_ONCE(pending_rc, rc);
	WRITE_ONCE(pending_state, state);
	WRITE_ONCE(pending_task, current);
}

/* --- H_VASI_STATE: kretprobe on plpar_hcall(opcode, retbuf, ...) --- */

struct hcall_call {
	unsigned long *retbuf;
	long rc;
	long state;
};

static int hcall_entry(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct hcall_call *c = (struct hcall_call *)ri->data;
	long rc = READ_ONCE(vasi_rc);
	long state = READ_ONCE(vasi_state);
	int enabled_ms = READ_ONCE(vasi_enabled_ms);

	/* Only calls we rewrite keep their instance. */
	if (regs->gpr[3] != FI_H_VASI_STATE || rc == FI_OFF || !take(&vasi_count))
		return 1;
	if (enabled_ms > 0) {
		/* A stream that is ENABLED for a while, then answers as set. */
		if (!vasi_first_query)
			vasi_first_query = jiffies ? jiffies : 1;
		if (time_before(jiffies, vasi_first_query + msecs_to_jiffies(enabled_ms))) {
			rc = 0;
			state = FI_VASI_ENABLED;
		}
	}
	c->retbuf = (unsigned long *)regs->gpr[4];
	c->rc = rc;
	c->state = state;
	set_pending(FI_H_VASI_STATE, rc, state);
	return 0;
}

static int hcall_ret(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct hcall_call *c = (struct hcall_call *)ri->data;
	long real_rc = (long)regs->gpr[3];

	WRITE_ONCE(pending_task, NULL);
	regs->gpr[3] = c->rc;
	if (c->rc == 0 && c->retbuf)
		c->retbuf[0] = c->state;
	pr_info(FI "inject H_VASI_STATE rc=%ld state=%ld (real rc=%ld) cpu=%d\n", c->rc, c->rc == 0 ? c->state : -1,
		real_rc, smp_processor_id());
	return 0;
}

static struct kretprobe hcall_probe = {
	.kp.symbol_name = "plpar_hcall",
	.entry_handler = hcall_entry,
	.handler = hcall_ret,
	.data_size = sizeof(struct hcall_call),
	.maxactive = 64,
};

/* --- H_VASI_SIGNAL: kretprobe on plpar_hcall_norets(opcode, ...) --- */

struct norets_call {
	long rc;
};

static int norets_entry(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct norets_call *c = (struct norets_call *)ri->data;
	long rc = READ_ONCE(signal_rc);

	/* H_JOIN and H_PROD go through here too: let them pass untouched. */
	if (regs->gpr[3] != FI_H_VASI_SIGNAL || rc == FI_OFF)
		return 1;
	c->rc = rc;
	set_pending(FI_H_VASI_SIGNAL, rc, 0);
	return 0;
}

static int norets_ret(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct norets_call *c = (struct norets_call *)ri->data;
	long real_rc = (long)regs->gpr[3];

	WRITE_ONCE(pending_task, NULL);
	regs->gpr[3] = c->rc;
	pr_info(FI "inject H_VASI_SIGNAL rc=%ld (real rc=%ld) cpu=%d\n", c->rc, real_rc, smp_processor_id());
	return 0;
}

static bool norets_registered;

static struct kretprobe norets_probe = {
	.kp.symbol_name = "plpar_hcall_norets",
	.entry_handler = norets_entry,
	.handler = norets_ret,
	.data_size = sizeof(struct norets_call),
	.maxactive = 64,
};

/* --- the hcall_exit tracepoint: kprobe on __trace_hcall_exit(opcode, retval, retbuf) --- */

static int trace_exit_pre(struct kprobe *p, struct pt_regs *regs)
{
	unsigned long *retbuf = (unsigned long *)regs->gpr[5];

	if (READ_ONCE(pending_task) != current || regs->gpr[3] != READ_ONCE(pending_op))
		return 0;
	regs->gpr[4] = READ_ONCE(pending_rc);
	if (pending_op == FI_H_VASI_STATE && pending_rc == 0 && retbuf)
		retbuf[0] = READ_ONCE(pending_state);
	return 0;
}

static struct kprobe trace_exit_probe = { .symbol_name = "__trace_hcall_exit", .pre_handler = trace_exit_pre };
static bool trace_exit_registered;

/* --- ibm,suspend-me: kretprobe on rtas_call(token, ...) --- */

static int rtas_entry(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	if ((int)regs->gpr[3] != suspend_me_token || READ_ONCE(suspend_status) == FI_OFF ||
	    !take(&suspend_count))
		return 1;
	/*
	 * rtas_call returns -1 at once for RTAS_UNKNOWN_SERVICE: firmware is
	 * not called, the partition does not suspend, and the return handler
	 * puts the injected status in place of that -1.
	 */
	regs->gpr[3] = (unsigned long)(long)RTAS_UNKNOWN_SERVICE;
	return 0;
}

static int rtas_ret(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	int status = READ_ONCE(suspend_status);

	regs->gpr[3] = (unsigned long)(long)status;
	pr_info(FI "inject ibm,suspend-me status=%d (firmware not called) cpu=%d\n", status, smp_processor_id());
	return 0;
}

static struct kretprobe rtas_probe = {
	.kp.symbol_name = "rtas_call",
	.entry_handler = rtas_entry,
	.handler = rtas_ret,
	.maxactive = 16,
};

/* --- holding one CPU out of the join --- */

static int join_pre(struct kprobe *p, struct pt_regs *regs)
{
	int cpu = smp_processor_id();
	int ms = READ_ONCE(hold_ms);
	u64 start, end;

	if (cpu != READ_ONCE(hold_cpu) || !take(&hold_count))
		return 0;
	pr_info(FI "holding cpu%d out of the join (%s) for %d ms\n", cpu, p->symbol_name, ms);
	/* By the clock, not by counted delays: under QEMU TCG loops run late. */
	start = ktime_get_mono_fast_ns();
	end = start + (u64)ms * NSEC_PER_MSEC;
	while (ktime_get_mono_fast_ns() < end)
		cpu_relax();
	pr_info(FI "releasing cpu%d into the join after %llu ms\n", cpu,
		(ktime_get_mono_fast_ns() - start) / NSEC_PER_MSEC);
	return 0;
}

/* 5.10 and older join in an IPI handler; 5.11+ in do_join under stop_machine. */
static struct kprobe join_probe = { .symbol_name = "rtas_percpu_suspend_me", .pre_handler = join_pre };
static bool join_registered;

/*
 * Holding by withholding the IPI (old path only). rtas_ibm_suspend_me runs
 * the join through on_each_cpu() IPIs. While the hold lasts, IPIs meant for
 * hold_cpu are redirected to the sending CPU (which ignores them), so
 * hold_cpu stays out of the join but keeps running tasks: a tracer pinned
 * there can watch the stall as it happens. A timer on hold_cpu ends the hold
 * and sends it an IPI, which delivers the pending join call. (hold_cpu also
 * enters the join as soon as it goes idle, so the test keeps it busy.)
 */
static atomic_t ipi_holding = ATOMIC_INIT(0);
static atomic_t ipi_withheld = ATOMIC_INIT(0);
static struct timer_list release_timer;

static void release_fn(struct timer_list *t)
{
	int cpu = READ_ONCE(hold_cpu);

	atomic_set(&ipi_holding, 0);
	pr_info(FI "releasing cpu%d into the join after %d ms (%d IPIs withheld)\n", cpu, READ_ONCE(hold_ms),
		atomic_read(&ipi_withheld));
	smp_send_reschedule(cpu);
}

static int arm_pre(struct kprobe *p, struct pt_regs *regs)
{
	int cpu = READ_ONCE(hold_cpu);

	if (cpu < 0 || !cpu_online(cpu) || atomic_read(&ipi_holding) || !take(&hold_count))
		return 0;
	atomic_set(&ipi_withheld, 0);
	atomic_set(&ipi_holding, 1);
	pr_info(FI "holding cpu%d out of the join (its IPIs withheld) for %d ms\n", cpu, READ_ONCE(hold_ms));
	release_timer.expires = jiffies + msecs_to_jiffies(READ_ONCE(hold_ms));
	add_timer_on(&release_timer, cpu);
	return 0;
}

static int cause_ipi_pre(struct kprobe *p, struct pt_regs *regs)
{
	if (!atomic_read(&ipi_holding) || (int)regs->gpr[3] != READ_ONCE(hold_cpu))
		return 0;
	regs->gpr[3] = smp_processor_id();
	atomic_inc(&ipi_withheld);
	return 0;
}

static struct kprobe arm_probe = { .symbol_name = "rtas_ibm_suspend_me", .pre_handler = arm_pre };
static struct kprobe xive_ipi_probe = { .symbol_name = "xive_cause_ipi", .pre_handler = cause_ipi_pre };
static struct kprobe xics_ipi_probe = { .symbol_name = "icp_hv_cause_ipi", .pre_handler = cause_ipi_pre };
static bool xive_ipi_registered, xics_ipi_registered, arm_registered;

static int register_ipi_hold(void)
{
	int ret;

	timer_setup(&release_timer, release_fn, TIMER_PINNED);
	xive_ipi_registered = register_kprobe(&xive_ipi_probe) == 0;
	xics_ipi_registered = register_kprobe(&xics_ipi_probe) == 0;
	if (!xive_ipi_registered && !xics_ipi_registered) {
		pr_err(FI "hold_ipi: neither xive_cause_ipi nor icp_hv_cause_ipi can be probed\n");
		return -ENOENT;
	}
	ret = register_kprobe(&arm_probe);
	if (ret) {
		pr_err(FI "hold_ipi: kprobe on rtas_ibm_suspend_me failed: %d\n", ret);
		return ret;
	}
	arm_registered = true;
	return 0;
}

static void unregister_ipi_hold(void)
{
	if (arm_registered)
		unregister_kprobe(&arm_probe);
	if (xive_ipi_registered)
		unregister_kprobe(&xive_ipi_probe);
	if (xics_ipi_registered)
		unregister_kprobe(&xics_ipi_probe);
	arm_registered = xive_ipi_registered = xics_ipi_registered = false;
	del_timer_sync(&release_timer);
	atomic_set(&ipi_holding, 0);
}

static int __init fi_init(void)
{
	int ret;

	suspend_me_token = rtas_token("ibm,suspend-me");
	ret = register_kretprobe(&hcall_probe);
	if (ret) {
		pr_err(FI "kretprobe on plpar_hcall failed: %d\n", ret);
		return ret;
	}
	/*
	 * plpar_hcall_norets also carries H_CEDE from the idle loop; on 5.10 a
	 * trap probe there trips a WARN in interrupt_exit_kernel_prepare. Only
	 * probe it when an H_VASI_SIGNAL answer is to be injected (5.11+).
	 */
	if (signal_rc != FI_OFF) {
		ret = register_kretprobe(&norets_probe);
		if (ret) {
			pr_err(FI "kretprobe on plpar_hcall_norets failed: %d\n", ret);
			goto out_hcall;
		}
		norets_registered = true;
	}
	ret = register_kretprobe(&rtas_probe);
	if (ret) {
		pr_err(FI "kretprobe on rtas_call failed: %d\n", ret);
		goto out_norets;
	}
	/* Without it only the hcall tracepoint shows the real answers. */
	trace_exit_registered = register_kprobe(&trace_exit_probe) == 0;
	if (hold_cpu >= 0 && hold_ipi) {
		ret = register_ipi_hold();
		if (ret) {
			unregister_ipi_hold();
			goto out_rtas;
		}
	} else if (hold_cpu >= 0) {
		ret = register_kprobe(&join_probe);
		if (ret) {
			join_probe.symbol_name = "do_join";
			join_probe.addr = NULL;
			join_probe.flags = 0;
			ret = register_kprobe(&join_probe);
		}
		if (ret) {
			pr_err(FI "kprobe on the join function failed: %d\n", ret);
			goto out_rtas;
		}
		join_registered = true;
	}
	pr_info(FI "loaded (TEST ONLY): vasi_rc=%ld vasi_state=%ld vasi_enabled_ms=%d signal_rc=%ld suspend_status=%d hold_cpu=%d hold_ms=%d join=%s suspend-me token=%d hcall_exit tracepoint %s\n",
		vasi_rc, vasi_state, vasi_enabled_ms, signal_rc, suspend_status, hold_cpu, hold_ms,
		join_registered ? join_probe.symbol_name : (arm_registered ? "ipi" : "-"), suspend_me_token,
		trace_exit_registered ? "follows the injections" : "shows the real answers");
	return 0;

out_rtas:
	if (trace_exit_registered)
		unregister_kprobe(&trace_exit_probe);
	unregister_kretprobe(&rtas_probe);
out_norets:
	if (norets_registered)
		unregister_kretprobe(&norets_probe);
out_hcall:
	unregister_kretprobe(&hcall_probe);
	return ret;
}

static void __exit fi_exit(void)
{
	unregister_ipi_hold();
	if (join_registered)
		unregister_kprobe(&join_probe);
	if (trace_exit_registered)
		unregister_kprobe(&trace_exit_probe);
	unregister_kretprobe(&rtas_probe);
	if (norets_registered)
		unregister_kretprobe(&norets_probe);
	unregister_kretprobe(&hcall_probe);
	pr_info(FI "unloaded\n");
}

module_init(fi_init);
module_exit(fi_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("TEST ONLY: rewrites pseries LPM platform answers for lpmtrace's QEMU tests");
