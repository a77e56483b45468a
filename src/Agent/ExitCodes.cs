namespace SockWatch.Agent;

/// <summary>Exit statuses, as documented in the README.</summary>
internal static class ExitCodes
{
    public const int Ok = 0;

    /// <summary>`sockwatch check`: findings were reported.</summary>
    public const int Findings = 1;

    /// <summary>Bad usage or configuration: one line names the flag or key.</summary>
    public const int Usage = 2;

    /// <summary>The kernel's socket tables could not be read.</summary>
    public const int TablesUnreadable = 3;
}
