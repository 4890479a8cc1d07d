using OpenTelemetry.Metrics;
using Osprey.Server.Security;

namespace Osprey.Server.Metrics;

/// <summary><c>GET /metrics</c>: the <see cref="OspreyMetrics"/> meter in the Prometheus text format.</summary>
internal static class MetricsEndpoint
{
    /// <summary>The path Prometheus scrapes.</summary>
    public const string Path = "/metrics";

    /// <summary>Registers the meter and OpenTelemetry's Prometheus exporter, listening to Osprey's meter only.</summary>
    public static IServiceCollection AddOspreyMetrics(this IServiceCollection services)
    {
        services.AddSingleton<OspreyMetrics>();
        services.AddOpenTelemetry().WithMetrics(metrics => metrics
            .AddMeter(OspreyMetrics.MeterName)
            .AddPrometheusExporter(exporter =>
            {
                // Every scrape reads the counters now: the default 300 ms cache would show two scrapers different moments.
                exporter.ScrapeResponseCacheDurationMilliseconds = 0;
                // No otel_scope_* labels and no target_info: series carry Osprey's labels only.
                exporter.ScopeInfoEnabled = false;
                exporter.TargetInfoEnabled = false;
            }));
        return services;
    }

    /// <summary>Maps <see cref="Path"/>; it needs the metrics action (the open default gives it to local clients).</summary>
    public static void MapMetricsEndpoint(this WebApplication app)
    {
        // Made now, so that its instruments exist before the first scrape.
        _ = app.Services.GetRequiredService<OspreyMetrics>();
        app.MapPrometheusScrapingEndpoint(Path).Requires(OspreyAction.Metrics);
    }
}
