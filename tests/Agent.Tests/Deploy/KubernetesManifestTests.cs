using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using k8s;
using k8s.Models;
using SockWatch.Agent.Configuration;
using SockWatch.Tests;
using YamlDotNet.Serialization;

namespace SockWatch.Agent.Tests.Deploy;

/// <summary>
/// deploy/kubernetes/: the manifests as the official client's models read them, with unknown
/// fields rejected (no cluster runs here), held to the unit, the measurements and the alert rules.
/// </summary>
public sealed partial class KubernetesManifestTests
{
    private static readonly string Dir = Path.Combine(Repo.Root, "deploy", "kubernetes");

    [Fact]
    public void Every_manifest_loads_into_the_client_models_with_unknown_fields_rejected()
    {
        var kinds = new List<string>();
        foreach (var file in new[] { "namespace.yaml", "configmap.yaml", "daemonset.yaml", "service.yaml" })
        {
            foreach (var o in KubernetesYaml.LoadAllFromString(File.ReadAllText(Path.Combine(Dir, file)), null, strict: true))
            {
                var obj = Assert.IsAssignableFrom<IKubernetesObject<V1ObjectMeta>>(o);
                Assert.Equal("sockwatch", obj.Metadata.Name);
                kinds.Add(obj.Kind);
            }
        }

        Assert.Equal(["Namespace", "ConfigMap", "DaemonSet", "Service"], kinds);
    }

    [Fact]
    public void A_misspelt_field_is_rejected_so_the_strict_load_means_something()
    {
        var text = File.ReadAllText(Path.Combine(Dir, "daemonset.yaml")).Replace("hostNetwork: true", "hostNetwrok: true", StringComparison.Ordinal);
        Assert.ThrowsAny<Exception>(() => KubernetesYaml.LoadAllFromString(text, null, strict: true));
    }

    [Fact]
    public void The_daemonset_mounts_the_host_proc_read_only_as_proc_root_with_only_the_units_capabilities()
    {
        var ds = DaemonSet();
        var pod = ds.Spec.Template.Spec;
        Assert.True(pod.HostNetwork);
        Assert.NotEqual(true, pod.HostPID); // owners come through --proc-root, not the node's PID namespace
        var c = Assert.Single(pod.Containers);

        var proc = Assert.Single(c.VolumeMounts, m => m.MountPath == "/host/proc");
        Assert.True(proc.ReadOnlyProperty);
        Assert.Equal("/proc", Assert.Single(pod.Volumes, v => v.Name == proc.Name).HostPath.Path);
        var args = c.Args.ToList();
        Assert.Equal("/host/proc", args[args.IndexOf("--proc-root") + 1]);

        // Exactly the capabilities the systemd unit grants, everything else dropped.
        var unit = File.ReadAllText(Path.Combine(Repo.Root, "deploy", "systemd", "sockwatch.service"));
        var granted = AmbientLine().Match(unit).Groups[1].Value.Split(' ').Select(cap => cap["CAP_".Length..]).Order();
        Assert.Equal(granted, c.SecurityContext.Capabilities.Add.Order());
        Assert.Equal(["ALL"], c.SecurityContext.Capabilities.Drop);
        Assert.False(c.SecurityContext.AllowPrivilegeEscalation);
        Assert.True(c.SecurityContext.ReadOnlyRootFilesystem);
        Assert.NotEqual(true, c.SecurityContext.Privileged);

        Assert.Equal("/readyz", c.ReadinessProbe.HttpGet.Path);
        Assert.Equal("/healthz", c.LivenessProbe.HttpGet.Path);
        Assert.Equal(9859, Assert.Single(c.Ports).ContainerPort);
    }

    [Fact]
    public void Resources_cover_the_measured_cpu_and_peak_rss()
    {
        // bench/results/2026-12-07-daemon-100000.md: the daemon at 100,000 sockets.
        var report = File.ReadAllText(Path.Combine(Repo.Root, "bench", "results", "2026-12-07-daemon-100000.md"));
        var peakMiB = double.Parse(PeakRss().Match(report).Groups[1].Value, CultureInfo.InvariantCulture);
        var cpuPercent = double.Parse(AverageCpu().Match(report).Groups[1].Value, CultureInfo.InvariantCulture);

        var r = Assert.Single(DaemonSet().Spec.Template.Spec.Containers).Resources;
        const double MiB = 1024 * 1024;
        Assert.InRange(r.Requests["memory"].ToDouble() / MiB, peakMiB, 2 * peakMiB);
        Assert.InRange(r.Limits["memory"].ToDouble() / MiB, 2 * peakMiB, 4 * peakMiB);
        Assert.InRange(r.Requests["cpu"].ToDouble(), cpuPercent / 100, 4 * cpuPercent / 100);
        Assert.True(r.Limits["cpu"].ToDouble() > r.Requests["cpu"].ToDouble());
    }

    [Fact]
    public void The_service_selects_the_daemonset_pods_and_the_configuration_validates()
    {
        var objects = KubernetesYaml.LoadAllFromString(File.ReadAllText(Path.Combine(Dir, "service.yaml")), null, strict: true);
        var service = Assert.IsType<V1Service>(Assert.Single(objects));
        var ds = DaemonSet();
        Assert.All(service.Spec.Selector, kv => Assert.Equal(kv.Value, ds.Spec.Template.Metadata.Labels[kv.Key]));
        Assert.Equal("metrics", Assert.Single(service.Spec.Ports).TargetPort.Value);

        var map = Assert.IsType<V1ConfigMap>(Assert.Single(KubernetesYaml.LoadAllFromString(File.ReadAllText(Path.Combine(Dir, "configmap.yaml")), null, strict: true)));
        var file = Path.Combine(Path.GetTempPath(), $"sockwatch-k8s-{Environment.ProcessId}.json");
        try
        {
            File.WriteAllText(file, map.Data["sockwatch.json"]);
            var options = ConfigurationLoader.Load(file, new Dictionary<string, string>(), new Dictionary<string, string>());
            Assert.Equal(TimeSpan.FromSeconds(15), options.PollInterval);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void The_prometheus_rule_holds_the_same_rules_as_the_alert_file()
    {
        var rule = (Dictionary<object, object>)new Deserializer().Deserialize<object>(File.ReadAllText(Path.Combine(Dir, "prometheusrule.yaml")))!;
        var alerts = (Dictionary<object, object>)new Deserializer().Deserialize<object>(File.ReadAllText(Path.Combine(Repo.Root, "deploy", "prometheus", "sockwatch-alerts.yml")))!;
        Assert.Equal("monitoring.coreos.com/v1", rule["apiVersion"]);
        Assert.Equal("PrometheusRule", rule["kind"]);
        var spec = (Dictionary<object, object>)rule["spec"];
        Assert.Equal(Canonical(alerts["groups"]), Canonical(spec["groups"]));
    }

    [Fact]
    public void The_prometheus_rule_is_what_the_generator_makes_of_the_alert_file_now()
    {
        var fresh = Path.Combine(Path.GetTempPath(), $"sockwatch-prometheusrule-{Environment.ProcessId}.yaml");
        try
        {
            var psi = new ProcessStartInfo("bash") { UseShellExecute = false, RedirectStandardError = true };
            psi.ArgumentList.Add(Path.Combine(Dir, "generate-prometheusrule.sh"));
            psi.ArgumentList.Add(fresh);
            using var p = Process.Start(psi)!;
            var stderr = p.StandardError.ReadToEnd();
            p.WaitForExit();
            Assert.True(p.ExitCode == 0, stderr);
            Assert.True(
                File.ReadAllText(fresh) == File.ReadAllText(Path.Combine(Dir, "prometheusrule.yaml")),
                "deploy/kubernetes/prometheusrule.yaml is out of date: run deploy/kubernetes/generate-prometheusrule.sh");
        }
        finally
        {
            File.Delete(fresh);
        }
    }

    private static V1DaemonSet DaemonSet() =>
        Assert.IsType<V1DaemonSet>(Assert.Single(KubernetesYaml.LoadAllFromString(File.ReadAllText(Path.Combine(Dir, "daemonset.yaml")), null, strict: true)));

    /// <summary>A YAML value as one string, key order kept: equal strings, equal rules.</summary>
    private static string Canonical(object? node)
    {
        var sb = new StringBuilder();
        Write(node);
        return sb.ToString();

        void Write(object? n)
        {
            switch (n)
            {
                case Dictionary<object, object> map:
                    sb.Append('{');
                    foreach (var (k, v) in map)
                    {
                        sb.Append(k).Append(':');
                        Write(v);
                        sb.Append(',');
                    }

                    sb.Append('}');
                    break;
                case List<object> list:
                    sb.Append('[');
                    list.ForEach(i =>
                    {
                        Write(i);
                        sb.Append(',');
                    });
                    sb.Append(']');
                    break;
                default:
                    sb.Append('"').Append(n).Append('"');
                    break;
            }
        }
    }

    [GeneratedRegex(@"\nAmbientCapabilities=([A-Z_ ]+)\n")]
    private static partial Regex AmbientLine();

    [GeneratedRegex(@"peak RSS, VmHWM \(MiB\) \| ([0-9.]+) \|")]
    private static partial Regex PeakRss();

    [GeneratedRegex(@"CPU, average over the run \(% of one core\) \| ([0-9.]+)% \|")]
    private static partial Regex AverageCpu();
}
