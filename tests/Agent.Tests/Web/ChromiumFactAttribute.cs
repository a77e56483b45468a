using SockWatch.Tests;

namespace SockWatch.Agent.Tests.Web;

/// <summary>
/// A fact that drives the system's Chromium through Playwright inside a network namespace of its
/// own: needs root and /usr/bin/chromium (Debian's package; test.sh installs it as root).
/// </summary>
internal sealed class ChromiumFactAttribute : FactAttribute
{
    public ChromiumFactAttribute()
    {
        if (!Conditions.IsRoot)
        {
            Skip = "needs root to make a network namespace with a known population; CI runs as root";
        }
        else if (!File.Exists(Browser.Executable))
        {
            Skip = $"needs Chromium at {Browser.Executable} (apt-get install chromium; test.sh installs it as root)";
        }
    }
}
