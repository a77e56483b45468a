namespace SockWatch.Agent.Tests.Metrics;

/// <summary>
/// Tests that build MetricsPipelines in this process run one after another: a pipeline with its
/// OTLP side on builds MeterProviders, and a MeterProvider listens to every Meter named
/// "sockwatch" in the process, so two alive at once would each collect the other's
/// instruments. The daemon has one.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class PipelineCollection
{
    public const string Name = "metrics pipelines";
}
