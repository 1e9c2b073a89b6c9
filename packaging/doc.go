// Package packaging holds no code, only tests of how llm-proxy is shipped:
// the Dockerfile (non-root user, EXPOSE 8000, VOLUME /data, a shell-free
// HEALTHCHECK, the static build command and its equality with the Makefile's
// `build` recipe), .dockerignore, the platform files (docker-compose.yml,
// fly.toml, render.yaml) and the README's settings tables, which must list
// every variable of `llm-proxy -h`.
//
// Regenerate the README's English settings table after adding a setting:
//
//	go test ./packaging -run TestREADME -update
package packaging
