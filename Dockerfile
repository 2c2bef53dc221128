# catcher as a service: SMTP on 1025, the inbox and API on 8025 (docs/docker.md).
# The wheel is built from this source in a stage of its own, so the image holds
# catcher and its runtime dependencies only: no source tree, no build tools.
FROM python:3.12-slim AS build
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY catcher ./catcher
COPY static ./static
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.12-slim
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl \
    && rm -rf /wheels \
    && useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin catcher
# By number, so a runtime can tell it is not root without reading /etc/passwd.
USER 10001:10001
# Every interface inside the container: the ports you publish are the boundary.
ENV CATCHER_SMTP_HOST=0.0.0.0 \
    CATCHER_HTTP_HOST=0.0.0.0 \
    PYTHONUNBUFFERED=1
EXPOSE 1025 8025
HEALTHCHECK --interval=10s --timeout=6s --start-period=5s --retries=3 CMD ["catcher", "health"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["catcher"]
