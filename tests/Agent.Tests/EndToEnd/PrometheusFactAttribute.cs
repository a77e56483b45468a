namespace SockWatch.Agent.Tests.EndToEnd;

/// <summary>A test that runs a real Prometheus server: skipped, with the reason, when there is none.</summary>
internal sealed class PrometheusFactAttribute : FactAttribute
{
    public PrometheusFactAttribute()
    {
        if (SockWatch.Tests.Conditions.FindExecutable("prometheus") is null)
        {
            Skip = "needs a Prometheus server binary (apt-get install prometheus; test.sh installs it as root)";
        }
    }
}
