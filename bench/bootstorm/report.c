#include "report.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "world.h"
#include "xsconn.h"

static const char *const profile_names[] = {
	[PROFILE_XSBENCH] = "xsbench",
	[PROFILE_LIBXL] = "libxl",
	[PROFILE_OPTIMIZED] = "optimized",
};

static double secs(uint64_t ns)
{
	return (double)ns / 1e9;
}

static double us(uint64_t ns)
{
	return (double)ns / 1e3;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Start latencies of the VMs that came up, sorted. */
static uint64_t *start_latencies(size_t *n)
{
	uint64_t *v = malloc((opt.n ? opt.n : 1) * sizeof(*v));
	size_t k = 0;

	if (!v)
		exit(2);
	for (unsigned i = 0; i < opt.n; i++)
		if (vms[i].t_up)
			v[k++] = vms[i].t_up - vms[i].t_create;
	qsort(v, k, sizeof(*v), cmp_u64);
	*n = k;
	return v;
}

static uint64_t pct(const uint64_t *v, size_t n, double q)
{
	size_t i;

	if (!n)
		return 0;
	i = (size_t)(q * (double)n);
	return v[i >= n ? n - 1 : i];
}

static struct hist all_requests(void)
{
	struct hist h = { 0 };

	for (int t = 0; t < STAT_TYPES; t++) {
		const struct hist *s = &stats.latency[t];

		h.count += s->count;
		h.sum += s->sum;
		if (s->max > h.max)
			h.max = s->max;
		for (int i = 0; i < HIST_BUCKETS; i++)
			h.b[i] += s->b[i];
	}
	return h;
}

static struct tx_stats tx_total(void)
{
	struct tx_stats t = { 0 };

	for (int k = 0; k < TX_KIND_COUNT; k++) {
		t.attempts += stats.tx[k].attempts;
		t.commits += stats.tx[k].commits;
		t.eagain += stats.tx[k].eagain;
		t.aborted_other += stats.tx[k].aborted_other;
		t.livelocks += stats.tx[k].livelocks;
		if (stats.tx[k].max_retries > t.max_retries)
			t.max_retries = stats.tx[k].max_retries;
	}
	return t;
}

static uint64_t errors_of(enum err_kind k)
{
	uint64_t n = 0;

	for (int t = 0; t < STAT_TYPES; t++)
		n += stats.errors[t][k];
	return n;
}

static unsigned vms_failed(void)
{
	unsigned n = 0;

	for (unsigned i = 0; i < opt.n; i++)
		n += vms[i].failed;
	return n;
}

bool results_ok(const struct results *r)
{
	bool teardown = opt.profile != PROFILE_XSBENCH;

	return !r->aborted && vms_up == opt.n && vms_failed() == 0 &&
	       (!teardown || vms_gone == opt.n) && stats.failures == 0 &&
	       stats.timeouts == 0 && stats.lost_connections == 0 &&
	       r->store_checked && r->store_diffs == 0 &&
	       tx_total().livelocks == 0;
}

/* VmHWM is updated lazily by the kernel: take the larger of it and the
 * RSS samples taken during the run. */
static uint64_t peak_kb(const struct results *r)
{
	uint64_t p = r->d_end.hwm_kb;

	if (r->rss_max_kb > p)
		p = r->rss_max_kb;
	if (r->d_up.rss_kb > p)
		p = r->d_up.rss_kb;
	return p;
}

static uint64_t boot_ns(const struct results *r)
{
	return r->t_boot_end > r->t0 ? r->t_boot_end - r->t0 : 0;
}

static uint64_t teardown_ns(const struct results *r)
{
	return r->t_teardown_end > r->t_teardown_start ?
		r->t_teardown_end - r->t_teardown_start : 0;
}

static uint64_t measured_requests(const struct results *r)
{
	return (r->req_at_boot_end - r->req_at_start) +
	       (r->req_at_teardown_end - r->req_at_teardown_start);
}

static uint64_t daemon_cpu_ns(const struct results *r)
{
	if (!r->d_start.valid || !r->d_end.valid)
		return 0;
	return (r->d_up.cpu_ns - r->d_start.cpu_ns) +
	       (r->d_end.cpu_ns - r->d_before_teardown.cpu_ns);
}

void report_summary(const struct results *r)
{
	size_t n;
	uint64_t *lat = start_latencies(&n);
	struct hist all = all_requests();
	struct tx_stats tt = tx_total();
	uint64_t reqs = measured_requests(r);
	bool xsb = opt.profile == PROFILE_XSBENCH;

	printf("xenstore-bootstorm: profile %s, %s, %u VMs, K=%u, prefill %u%s%s\n",
	       profile_names[opt.profile],
	       opt.transport == TRANSPORT_SOCKETS ? "sockets" : "sim rings",
	       opt.n, xsb ? 1 : opt.k, opt.prefill,
	       opt.label ? ", daemon " : "", opt.label ? opt.label : "");
	if (xsb)
		printf("  %u start+shutdown cycles in %.3f s (%.1f cycles/s)\n",
		       vms_up, secs(boot_ns(r)),
		       boot_ns(r) ? vms_up / secs(boot_ns(r)) : 0.0);
	else {
		printf("  %s%u VMs up after %.3f s (%.1f VM starts/s); teardown %.3f s\n",
		       vms_up == opt.n ? "all " : "", vms_up, secs(boot_ns(r)),
		       boot_ns(r) ? vms_up / secs(boot_ns(r)) : 0.0,
		       secs(teardown_ns(r)));
	}
	printf("  %s latency ms: p50 %.1f  p90 %.1f  p99 %.1f  max %.1f\n",
	       xsb ? "cycle" : "VM start",
	       us(pct(lat, n, 0.5)) / 1e3, us(pct(lat, n, 0.9)) / 1e3,
	       us(pct(lat, n, 0.99)) / 1e3, n ? us(lat[n - 1]) / 1e3 : 0.0);
	printf("  requests %llu (%.0f per VM, %.0f/s), watch events %llu (%.0f per VM)\n",
	       (unsigned long long)reqs, opt.n ? (double)reqs / opt.n : 0.0,
	       boot_ns(r) + teardown_ns(r) ?
	       reqs / secs(boot_ns(r) + teardown_ns(r)) : 0.0,
	       (unsigned long long)stats_measured_events(),
	       opt.n ? (double)stats_measured_events() / opt.n : 0.0);
	printf("  request latency us: p50 %.0f  p99 %.0f  p99.9 %.0f  max %.0f\n",
	       us(hist_quantile(&all, 0.5)), us(hist_quantile(&all, 0.99)),
	       us(hist_quantile(&all, 0.999)), us(all.max));
	if (stats.watch_latency.count)
		printf("  watch delivery us (state changes): p50 %.0f  p99 %.0f\n",
		       us(hist_quantile(&stats.watch_latency, 0.5)),
		       us(hist_quantile(&stats.watch_latency, 0.99)));
	printf("  transactions %llu committed, %llu EAGAIN (%.2f%% of attempts, "
	       "%.3f retries/success, max %llu retries)\n",
	       (unsigned long long)tt.commits, (unsigned long long)tt.eagain,
	       tt.attempts ? 100.0 * tt.eagain / tt.attempts : 0.0,
	       tt.commits ? (double)tt.eagain / tt.commits : 0.0,
	       (unsigned long long)tt.max_retries);
	if (r->d_start.valid && r->d_end.valid) {
		uint64_t cpu = daemon_cpu_ns(r);

		printf("  daemon CPU %.3f s: %.2f us/request, %.2f ms/VM\n",
		       secs(cpu), reqs ? us(cpu) / reqs : 0.0,
		       opt.n ? us(cpu) / 1e3 / opt.n : 0.0);
		printf("  daemon RSS KiB: start %llu, %s %llu, peak %llu, end %llu",
		       (unsigned long long)r->d_start.rss_kb,
		       xsb ? "after run" : "all up",
		       (unsigned long long)r->d_up.rss_kb,
		       (unsigned long long)peak_kb(r),
		       (unsigned long long)r->d_after_cleanup.rss_kb);
		if (!xsb && r->d_up.rss_kb > r->d_start.rss_kb)
			printf("; %.0f bytes/VM",
			       1024.0 * (r->d_up.rss_kb - r->d_start.rss_kb) / opt.n);
		if (r->nodes_up > r->nodes_start &&
		    r->d_up.rss_kb > r->d_start.rss_kb)
			printf(", %.0f bytes/node",
			       1024.0 * (r->d_up.rss_kb - r->d_start.rss_kb) /
			       (r->nodes_up - r->nodes_start));
		printf("\n");
	}
	if (r->nodes_up)
		printf("  nodes %llu at start, %llu with all VMs up; watches peak %llu; "
		       "connections peak %llu\n",
		       (unsigned long long)r->nodes_start,
		       (unsigned long long)r->nodes_up,
		       (unsigned long long)stats.watches_peak,
		       (unsigned long long)stats.conns_peak);
	printf("  error replies (ENOENT and EAGAIN are part of the workload):");
	bool any = false;
	for (int k = 0; k < ERRK_COUNT; k++)
		if (errors_of(k)) {
			printf(" %s %llu", err_kind_names[k],
			       (unsigned long long)errors_of(k));
			any = true;
		}
	printf("%s\n", any ? "" : " none");
	if (stats.oversized_replies)
		printf("  replies longer than XENSTORE_PAYLOAD_MAX (%d bytes): %llu\n",
		       XENSTORE_PAYLOAD_MAX,
		       (unsigned long long)stats.oversized_replies);
	printf("  verification: %u/%u VMs %s, %u failed, %llu failures, %llu timeouts, "
	       "%llu lost connections, livelocks %llu, store %s -> %s\n",
	       vms_up, opt.n, xsb ? "completed" : "up", vms_failed(),
	       (unsigned long long)stats.failures,
	       (unsigned long long)stats.timeouts,
	       (unsigned long long)stats.lost_connections,
	       (unsigned long long)tt.livelocks,
	       !r->store_checked ? "not checked" :
	       r->store_diffs ? "DIFFERS" : "restored",
	       results_ok(r) ? "OK" : "FAILED");
	if (r->aborted)
		printf("  run aborted: %s\n", r->abort_reason);
	free(lat);
}

static void j_hist(FILE *f, const char *name, const struct hist *h, bool last)
{
	fprintf(f, "\"%s\": {\"count\": %llu, \"mean\": %.1f, \"p50\": %.1f, "
		"\"p90\": %.1f, \"p99\": %.1f, \"p999\": %.1f, \"max\": %.1f}%s",
		name, (unsigned long long)h->count,
		h->count ? us(h->sum) / h->count : 0.0,
		us(hist_quantile(h, 0.5)), us(hist_quantile(h, 0.9)),
		us(hist_quantile(h, 0.99)), us(hist_quantile(h, 0.999)),
		us(h->max), last ? "" : ", ");
}

static void j_tx(FILE *f, const char *name, const struct tx_stats *t, bool last)
{
	fprintf(f, "\"%s\": {\"attempts\": %llu, \"commits\": %llu, "
		"\"eagain\": %llu, \"eagain_rate\": %.6f, "
		"\"retries_per_success\": %.6f, \"max_retries\": %llu, "
		"\"livelocks\": %llu, \"aborted\": %llu}%s",
		name, (unsigned long long)t->attempts,
		(unsigned long long)t->commits, (unsigned long long)t->eagain,
		t->attempts ? (double)t->eagain / t->attempts : 0.0,
		t->commits ? (double)t->eagain / t->commits : 0.0,
		(unsigned long long)t->max_retries,
		(unsigned long long)t->livelocks,
		(unsigned long long)t->aborted_other, last ? "" : ", ");
}

static void j_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; s && *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(f, "\\u%04x", *s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

int report_json(const struct results *r, const char *file)
{
	FILE *f = fopen(file, "w");
	size_t n;
	uint64_t *lat;
	struct hist all = all_requests();
	struct tx_stats tt = tx_total();
	uint64_t reqs = measured_requests(r), cpu = daemon_cpu_ns(r);
	bool first;

	if (!f)
		return -1;
	lat = start_latencies(&n);
	fprintf(f, "{\"tool\": \"xenstore-bootstorm\", \"profile\": \"%s\", "
		"\"transport\": \"%s\", \"label\": ",
		profile_names[opt.profile],
		opt.transport == TRANSPORT_SOCKETS ? "sockets" : "sim");
	j_str(f, opt.label ? opt.label : "");
	fprintf(f, ", \"n\": %u, \"k\": %u, \"prefill\": %u, "
		"\"boot_delay_ms\": %.3f, \"seed\": %u, \"monitors\": \"%s\", "
		"\"name_scan\": %s, ",
		opt.n, opt.k, opt.prefill, (double)opt.boot_delay_ns / 1e6,
		opt.seed, opt.monitors == MONITORS_PER_VM ? "per-vm" : "shared",
		opt.name_scan ? "true" : "false");
	fprintf(f, "\"ok\": %s, \"verification\": {\"vms_up\": %u, "
		"\"vms_gone\": %u, \"vms_failed\": %u, \"failures\": %llu, "
		"\"timeouts\": %llu, \"lost_connections\": %llu, "
		"\"livelocks\": %llu, \"oversized_replies\": %llu, "
		"\"store_checked\": %s, "
		"\"store_differences\": %zu, \"aborted\": %s, \"abort_reason\": ",
		results_ok(r) ? "true" : "false", vms_up, vms_gone, vms_failed(),
		(unsigned long long)stats.failures,
		(unsigned long long)stats.timeouts,
		(unsigned long long)stats.lost_connections,
		(unsigned long long)tt.livelocks,
		(unsigned long long)stats.oversized_replies,
		r->store_checked ? "true" : "false", r->store_diffs,
		r->aborted ? "true" : "false");
	j_str(f, r->abort_reason ? r->abort_reason : "");
	fprintf(f, "}, \"time_s\": {\"boot\": %.6f, \"teardown\": %.6f, "
		"\"total\": %.6f}, \"vm_starts_per_s\": %.3f, ",
		secs(boot_ns(r)), secs(teardown_ns(r)),
		secs(boot_ns(r) + teardown_ns(r)),
		boot_ns(r) ? vms_up / secs(boot_ns(r)) : 0.0);
	fprintf(f, "\"vm_start_latency_ms\": {\"count\": %zu, \"p50\": %.3f, "
		"\"p90\": %.3f, \"p99\": %.3f, \"max\": %.3f}, ",
		n, us(pct(lat, n, 0.5)) / 1e3, us(pct(lat, n, 0.9)) / 1e3,
		us(pct(lat, n, 0.99)) / 1e3, n ? us(lat[n - 1]) / 1e3 : 0.0);
	fprintf(f, "\"requests\": {\"total\": %llu, \"boot\": %llu, "
		"\"teardown\": %llu, \"per_vm\": %.2f, \"per_s\": %.1f, "
		"\"by_actor\": {",
		(unsigned long long)reqs,
		(unsigned long long)(r->req_at_boot_end - r->req_at_start),
		(unsigned long long)(r->req_at_teardown_end -
				     r->req_at_teardown_start),
		opt.n ? (double)reqs / opt.n : 0.0,
		boot_ns(r) + teardown_ns(r) ?
		reqs / secs(boot_ns(r) + teardown_ns(r)) : 0.0);
	first = true;
	for (int a = 0; a < ACTOR_COUNT; a++) {
		if (a == ACTOR_HARNESS || !stats.requests[a])
			continue;
		fprintf(f, "%s\"%s\": {\"requests\": %llu, \"per_vm\": %.2f, "
			"\"boot_per_vm\": %.2f, \"teardown_per_vm\": %.2f, "
			"\"events\": %llu, \"events_per_vm\": %.2f, "
			"\"boot_events_per_vm\": %.2f, \"connections\": %llu}",
			first ? "" : ", ", actor_names[a],
			(unsigned long long)stats.requests[a],
			opt.n ? (double)stats.requests[a] / opt.n : 0.0,
			opt.n ? (double)r->boot_requests[a] / opt.n : 0.0,
			opt.n ? (double)(stats.requests[a] - r->boot_requests[a]) / opt.n : 0.0,
			(unsigned long long)stats.events[a],
			opt.n ? (double)stats.events[a] / opt.n : 0.0,
			opt.n ? (double)r->boot_events[a] / opt.n : 0.0,
			(unsigned long long)stats.connections[a]);
		first = false;
	}
	fprintf(f, "}}, \"events\": {\"total\": %llu, \"per_vm\": %.2f}, ",
		(unsigned long long)stats_measured_events(),
		opt.n ? (double)stats_measured_events() / opt.n : 0.0);
	fprintf(f, "\"request_latency_us\": {");
	j_hist(f, "all", &all, false);
	for (int t = 0; t < STAT_TYPES; t++) {
		if (!stats.latency[t].count)
			continue;
		j_hist(f, xs_type_name(t), &stats.latency[t], false);
	}
	fprintf(f, "\"_\": null}, \"watch_latency_us\": {");
	j_hist(f, "state_change", &stats.watch_latency, false);
	j_hist(f, "release_domain", &stats.release_latency, true);
	fprintf(f, "}, \"transactions\": {");
	j_tx(f, "all", &tt, false);
	for (int k = 0; k < TX_KIND_COUNT; k++)
		if (stats.tx[k].attempts)
			j_tx(f, tx_kind_names[k], &stats.tx[k], false);
	fprintf(f, "\"_\": null}, \"errors\": {\"total\": {");
	first = true;
	for (int k = 0; k < ERRK_COUNT; k++) {
		fprintf(f, "%s\"%s\": %llu", first ? "" : ", ",
			err_kind_names[k], (unsigned long long)errors_of(k));
		first = false;
	}
	fprintf(f, "}, \"by_type\": {");
	first = true;
	for (int t = 0; t < STAT_TYPES; t++) {
		bool any = false;

		for (int k = 0; k < ERRK_COUNT; k++)
			any |= stats.errors[t][k] != 0;
		if (!any)
			continue;
		fprintf(f, "%s\"%s\": {", first ? "" : ", ", xs_type_name(t));
		first = false;
		bool f2 = true;
		for (int k = 0; k < ERRK_COUNT; k++) {
			if (!stats.errors[t][k])
				continue;
			fprintf(f, "%s\"%s\": %llu", f2 ? "" : ", ",
				err_kind_names[k],
				(unsigned long long)stats.errors[t][k]);
			f2 = false;
		}
		fputc('}', f);
	}
	fprintf(f, "}}, \"daemon\": ");
	if (r->d_start.valid && r->d_end.valid) {
		int64_t grow = (int64_t)r->d_up.rss_kb - (int64_t)r->d_start.rss_kb;

		fprintf(f, "{\"pid\": %d, \"cpu_s\": {\"boot\": %.6f, "
			"\"teardown\": %.6f, \"total\": %.6f}, "
			"\"cpu_us_per_request\": %.4f, \"cpu_ms_per_vm\": %.4f, "
			"\"rss_kb_start\": %llu, \"rss_kb_up\": %llu, "
			"\"peak_rss_kb\": %llu, \"peak_rss_covers_run_only\": %s, "
			"\"rss_kb_end\": %llu, \"rss_kb_after_cleanup\": %llu, "
			"\"rss_growth_kb_after_run\": %lld, "
			"\"bytes_per_vm\": %.1f, \"bytes_per_node\": %.1f}, ",
			(int)opt.pid, secs(r->d_up.cpu_ns - r->d_start.cpu_ns),
			secs(r->d_end.cpu_ns - r->d_before_teardown.cpu_ns),
			secs(cpu), reqs ? us(cpu) / reqs : 0.0,
			opt.n ? us(cpu) / 1e3 / opt.n : 0.0,
			(unsigned long long)r->d_start.rss_kb,
			(unsigned long long)r->d_up.rss_kb,
			(unsigned long long)peak_kb(r),
			r->peak_reset ? "true" : "false",
			(unsigned long long)r->d_end.rss_kb,
			(unsigned long long)r->d_after_cleanup.rss_kb,
			(long long)r->d_after_cleanup.rss_kb -
			(long long)r->d_start.rss_kb,
			opt.n && grow > 0 ? 1024.0 * grow / opt.n : 0.0,
			r->nodes_up > r->nodes_start && grow > 0 ?
			1024.0 * grow / (r->nodes_up - r->nodes_start) : 0.0);
	} else {
		fprintf(f, "null, ");
	}
	fprintf(f, "\"store\": {\"nodes_start\": %llu, \"nodes_up\": %llu, "
		"\"watches_peak\": %llu, \"connections_peak\": %llu}, "
		"\"client_cpu_s\": %.3f}\n",
		(unsigned long long)r->nodes_start,
		(unsigned long long)r->nodes_up,
		(unsigned long long)stats.watches_peak,
		(unsigned long long)stats.conns_peak, secs(r->client_cpu_ns));
	free(lat);
	return fclose(f);
}

int report_plot(const struct results *r, const char *file)
{
	char data[] = "/tmp/bootstorm-plot.XXXXXX";
	char script[sizeof(data) + 8];
	int fd = mkstemp(data);
	FILE *f;
	size_t n;
	uint64_t *lat;
	pid_t pid;
	int status;
	bool xsb = opt.profile == PROFILE_XSBENCH;

	if (fd < 0)
		return -1;
	f = fdopen(fd, "w");
	/* Block 0: start time vs latency; block 1: the sorted latencies. */
	for (unsigned i = 0; i < opt.n; i++)
		if (vms[i].t_up)
			fprintf(f, "%.6f %.3f\n", secs(vms[i].t_create - r->t0),
				us(vms[i].t_up - vms[i].t_create) / 1e3);
	fprintf(f, "\n\n");
	lat = start_latencies(&n);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%.3f %.4f\n", us(lat[i]) / 1e3,
			100.0 * (double)(i + 1) / (double)n);
	free(lat);
	fclose(f);
	snprintf(script, sizeof(script), "%s.gp", data);
	f = fopen(script, "w");
	if (!f) {
		unlink(data);
		return -1;
	}
	fprintf(f,
		"set terminal pngcairo size 1400,560 font 'sans,10'\n"
		"set output '%s'\n"
		"set multiplot layout 1,2 title 'xenstore-bootstorm: %s, %u VMs, K=%u%s%s'\n"
		"set grid\n"
		"set xlabel '%s started (s after the storm began)'\n"
		"set ylabel '%s latency (ms)'\n"
		"plot '%s' index 0 using 1:2 with points pt 7 ps 0.4 notitle\n"
		"set xlabel '%s latency (ms)'\n"
		"set ylabel 'VMs (%%, cumulative)'\n"
		"set yrange [0:100]\n"
		"plot '%s' index 1 using 1:2 with lines lw 2 notitle\n"
		"unset multiplot\n",
		file, profile_names[opt.profile], opt.n, opt.k,
		opt.label ? ", " : "", opt.label ? opt.label : "",
		xsb ? "cycle" : "VM", xsb ? "cycle" : "start", data,
		xsb ? "cycle" : "start", data);
	fclose(f);
	pid = fork();
	if (pid == 0) {
		execlp("gnuplot", "gnuplot", script, (char *)NULL);
		fprintf(stderr, "bootstorm: cannot run gnuplot: %s "
			"(apt-get install gnuplot-nox)\n", strerror(errno));
		_exit(127);
	}
	status = -1;
	if (pid > 0)
		waitpid(pid, &status, 0);
	unlink(data);
	unlink(script);
	return pid > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}
