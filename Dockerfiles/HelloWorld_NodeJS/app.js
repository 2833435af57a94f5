const http = require("http");
const version = process.env.HELLO_VERSION || "dev";
const server = http.createServer((req, res) => {
  res.writeHead(200, { "Content-Type": "text/plain" });
  res.end(`Hello World (${version})\n`);
});
server.listen(8080, () => console.log(`hello ${version} listening on :8080`));
