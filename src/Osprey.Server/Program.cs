using System.Net;
using System.Net.Sockets;
using Osprey.Feeds;
using Osprey.Server.Hosting;

OspreyOptions options;
try
{
    options = OspreyCommandLine.Parse(args, Environment.GetEnvironmentVariable);
}
catch (FormatException ex)
{
    await Console.Error.WriteLineAsync($"osprey: {ex.Message}");
    return 2;
}

if (options.ShowHelp)
{
    Console.WriteLine(OspreyCommandLine.Usage);
    return 0;
}

if (options.Command == "devices")
{
    return DevicesCommand.Run(Console.Out);
}

if (options.Command == "cert")
{
    return CertCommand.Run(options.CertDirectory, Console.Out, Console.Error);
}

WebApplication app;
try
{
    app = OspreyServer.Build(options);
}
catch (Exception ex) when (ex is FormatException or ArgumentException)
{
    await Console.Error.WriteLineAsync($"osprey: {ex.Message}");
    return 2;
}

await using (app)
{
    // Start the sources with the server, so that the first viewer finds a frame already latched.
    var registry = app.Services.GetRequiredService<FeedRegistry>();
    try
    {
        await app.StartAsync();
    }
    catch (OperationCanceledException)
    {
        // SIGTERM (or Ctrl-C) while still binding: a stop, not a crash.
        await Console.Error.WriteLineAsync("osprey: stopped while starting.");
        return 0;
    }
    catch (IOException ex) when (IsAddressInUse(ex))
    {
        // Kestrel wraps the socket error (IOException > AddressInUseException > SocketException); one line is enough.
        await Console.Error.WriteLineAsync($"osprey: {ex.Message.TrimEnd('.')}; choose another port with --port (or --extra-port).");
        return 1;
    }

    foreach (var address in OspreyServer.ListeningAddresses(app))
    {
        Console.WriteLine($"Osprey listening on {address}");
    }

    if (app.Services.GetService<ServerCertificate>() is { } tls)
    {
        Console.WriteLine($"TLS certificate ({tls.Origin}): {TlsCertificates.Describe(tls.Certificate)}");
        if (tls.IsSelfSigned)
        {
            Console.WriteLine("Browsers will warn: no one trusts a self-signed certificate; check the SHA-256 above before accepting it.");
        }
    }

    if (registry.Feeds.Count == 0)
    {
        Console.WriteLine("No sources configured (stream mode): feeds appear when publishers connect.");
    }
    else
    {
        Console.WriteLine($"Feeds: {string.Join(", ", registry.Feeds.Select(f => $"{f.Name} ({f.SourceUri})"))}");
    }

    var listening = OspreyServer.ListeningAddresses(app);
    if (listening.Count > 0)
    {
        Console.WriteLine($"Open {OspreyServer.BrowsableUrl(listening[0])} in a browser to watch.");
        if (OspreyServer.IsWildcard(options.Bind))
        {
            Console.WriteLine($"From another machine: {(options.UsesTls ? "https" : "http")}://{Dns.GetHostName()}:{new Uri(OspreyServer.BrowsableUrl(listening[0])).Port}/");
        }
    }

    // Viewers are closed on ApplicationStopping; the container then disposes the registry, stopping sources.
    await app.WaitForShutdownAsync();
}

return 0;

static bool IsAddressInUse(Exception? exception)
{
    for (; exception is not null; exception = exception.InnerException)
    {
        if (exception is SocketException { SocketErrorCode: SocketError.AddressAlreadyInUse } or Microsoft.AspNetCore.Connections.AddressInUseException)
        {
            return true;
        }
    }

    return false;
}
