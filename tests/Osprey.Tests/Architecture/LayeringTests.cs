using Osprey.Feeds;

namespace Osprey.Tests.Architecture;

/// <summary>Dependencies between folders point one way, down the table docs/architecture.md shows.</summary>
public class LayeringTests
{
    /// <summary>The engine's areas (Osprey.Engine.dll), lowest first. Keep in step with docs/architecture.md.</summary>
    internal static readonly (string Area, int Rank)[] EngineAreas =
    [
        ("Osprey", 0), // Interop: LibraryImport declarations and SafeHandles
        ("Osprey.Runtime", 0),
        ("Osprey.Media", 1),
        ("Osprey.Codecs", 2),
        ("Osprey.Containers", 3),
        ("Osprey.Protocols", 3),
        ("Osprey.Protocols.Stun", 3), // WebRTC's wire parts: siblings of one rank, none uses another
        ("Osprey.Protocols.Srtp", 3),
        ("Osprey.Protocols.Rtp", 3),
        ("Osprey.Protocols.Sdp", 3),
        ("Osprey.Protocols.Rtsp", 3), // RTSP's requests, transports, Digest and SDP: a sibling too
        ("Osprey.Feeds", 4),
        ("Osprey.Ingest", 5),
        ("Osprey.Sources", 6),
        ("Osprey.Transforms", 6),
        ("Osprey.Routing", 6),
        ("Osprey.Relay", 6),
    ];

    /// <summary>The server's areas (osprey.dll), above every engine area.</summary>
    internal static readonly (string Area, int Rank)[] ServerAreas =
    [
        .. EngineAreas,
        ("Osprey.Server.Http", 10),
        ("Osprey.Server.Security", 10),
        ("Osprey.Server.Outputs", 11),
        ("Osprey.Server.Configuration", 11),
        ("Osprey.Server.Endpoints", 12),
        ("Osprey.Server.Metrics", 12),
        ("Osprey.Server.Hosting", 13),
        ("Osprey.Server", 14), // Program
    ];

    /// <summary>The areas whose code is pure: bytes and spans in, writers out; no sockets, processes, logging or feeds.</summary>
    internal static readonly string[] PureAreas = ["Osprey.Media", "Osprey.Codecs", "Osprey.Containers", "Osprey.Protocols"];

    [Fact]
    public void EngineNamespaces_DependOnlyOnLowerAreas()
    {
        var edges = NamespaceDependencies.Read(typeof(Feed).Assembly.Location, "Osprey");
        Assert.NotEmpty(edges);
        var violations = new Layering(EngineAreas).Violations(edges);
        Assert.True(violations.Count == 0, string.Join(Environment.NewLine, violations));
    }

    [Fact]
    public void ServerNamespaces_DependOnlyOnLowerAreas()
    {
        var edges = NamespaceDependencies.Read(ServerAssemblyPath(), "Osprey");
        Assert.Contains(edges.Keys, e => e.From.StartsWith("Osprey.Server.Endpoints", StringComparison.Ordinal));
        var violations = new Layering(ServerAreas).Violations(edges);
        Assert.True(violations.Count == 0, string.Join(Environment.NewLine, violations));
    }

    [Fact]
    public void PureAreas_UseNoSocketsProcessesLoggingOrHosting()
    {
        var forbidden = new[] { "Microsoft.Extensions", "Microsoft.AspNetCore", "System.Net.Sockets", "System.Net.WebSockets", "System.Diagnostics.Process" };
        var edges = NamespaceDependencies.Read(typeof(Feed).Assembly.Location, "");
        var impure = edges.Where(e => PureAreas.Any(area => e.Key.From == area || e.Key.From.StartsWith(area + ".", StringComparison.Ordinal))
                                      && forbidden.Any(f => e.Key.To.StartsWith(f, StringComparison.Ordinal)))
            .Select(e => $"{e.Key.From} -> {e.Key.To} ({e.Value})")
            .ToList();
        Assert.True(impure.Count == 0, string.Join(Environment.NewLine, impure));
    }

    [Fact]
    public void ACycleBetweenAreas_IsReported()
    {
        // What FeedRegistry once did: the feed table owned the source supervisors and the view table.
        var edges = new Dictionary<(string From, string To), string>
        {
            [("Osprey.Sources", "Osprey.Feeds")] = "SourceHost uses FeedRegistry",
            [("Osprey.Feeds", "Osprey.Sources")] = "FeedRegistry.AddSource uses SourceSupervisor",
            [("Osprey.Feeds", "Osprey.Transforms")] = "FeedRegistry.GetView uses LazyFeed",
        };

        var violations = new Layering(EngineAreas).Violations(edges);

        Assert.Equal(2, violations.Count);
        Assert.Contains(violations, v => v.StartsWith("Osprey.Feeds -> Osprey.Sources: Osprey.Feeds (rank 4) may not depend on Osprey.Sources (rank 6)", StringComparison.Ordinal));
        Assert.Contains(violations, v => v.StartsWith("Osprey.Feeds -> Osprey.Transforms", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("Osprey.Sources.V4L2", "Osprey.Sources.OpenMv", false)] // one source family using another
    [InlineData("Osprey.Routing", "Osprey.Sources", false)] // siblings of one rank
    [InlineData("Osprey.Codecs.Jpeg", "Osprey.Containers.Jpeg", false)] // pure codec code using a container
    [InlineData("Osprey.Server.Outputs.WebSockets", "Osprey.Server.Endpoints.Feeds", false)]
    [InlineData("Osprey.Server.Endpoints.Feeds", "Osprey.Server.Endpoints.Vw", false)]
    [InlineData("Osprey.Tools", "Osprey.Media", false)] // a folder the table does not know
    [InlineData("Osprey.Sources.V4L2", "Osprey.Sources", true)] // a family using the sources' contracts
    [InlineData("Osprey.Sources", "Osprey.Sources.V4L2", true)] // the factory knowing its families
    [InlineData("Osprey.Containers.Mp4", "Osprey.Codecs.H264", true)]
    [InlineData("Osprey.Server.Endpoints.Feeds", "Osprey.Server.Outputs.WebSockets", true)]
    public void ADependency_IsAllowedOnlyDownTheTable(string from, string to, bool allowed)
    {
        Assert.Equal(allowed, new Layering(ServerAreas).Check(from, to) is null);
    }

    [Fact]
    public void ArchitectureDocument_ShowsTheSameTable()
    {
        var doc = File.ReadAllText(Path.Combine(RepositoryRoot(), "docs", "architecture.md"));
        foreach (var (area, rank) in ServerAreas)
        {
            Assert.Contains($"| `{area}` | {rank} |", doc, StringComparison.Ordinal);
        }
    }

    private static string ServerAssemblyPath() => Path.Combine(AppContext.BaseDirectory, "osprey.dll");

    internal static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Osprey.slnx")))
            {
                return dir.FullName;
            }
        }

        throw new DirectoryNotFoundException("Osprey.slnx not found above " + AppContext.BaseDirectory);
    }
}
