namespace SockWatch.Agent.Configuration;

/// <summary>Bad usage or configuration (exit status 2): the message names the flag or key and what it accepts.</summary>
internal sealed class UsageException(string message) : Exception(message);
