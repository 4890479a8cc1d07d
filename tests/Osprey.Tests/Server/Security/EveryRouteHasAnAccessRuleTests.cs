using System.Net;
using Microsoft.AspNetCore.Routing;
using Osprey.Server.Hosting;
using Osprey.Server.Security;

namespace Osprey.Tests.Server.Security;

public class EveryRouteHasAnAccessRuleTests
{
    [Fact]
    public async Task EveryEndpointTheServerMaps_SaysWhoMayUseIt()
    {
        var options = new OspreyOptions { Command = "stream", Port = 0, Bind = IPAddress.Loopback, IngestSecret = "s3cret", Go2rtcPort = 0 };
        await using var app = OspreyServer.Build(options);
        var endpoints = ((IEndpointRouteBuilder)app).DataSources.SelectMany(source => source.Endpoints).ToList();
        Assert.True(endpoints.Count > 20, $"only {endpoints.Count} endpoints found");
        var unruled = endpoints.Where(e => e.Metadata.GetMetadata<AccessRule>() is null).Select(e => e.DisplayName).ToList();
        Assert.True(unruled.Count == 0, "routes without an access rule: " + string.Join(", ", unruled));
        // The go2rtc surface (mapped only with --go2rtc-port) is among them.
        Assert.Contains(endpoints.OfType<RouteEndpoint>(), e => e.RoutePattern.RawText == "/api/ws");
    }
}
