namespace SockWatch.Agent.Tests;

/// <summary>A fact that runs Prometheus's promtool; skips, saying how to get it, when it is missing.</summary>
internal sealed class PromtoolFactAttribute : FactAttribute
{
    public PromtoolFactAttribute()
    {
        if (SockWatch.Tests.Conditions.FindExecutable("promtool") is null)
        {
            Skip = "needs Prometheus's promtool (apt-get install prometheus; test.sh installs it as root)";
        }
    }
}
